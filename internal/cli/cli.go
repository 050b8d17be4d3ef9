// Package cli is the portside command line: one file per subcommand. It is
// the only place that parses flags and builds loggers.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/server"
)

// command is one subcommand.
type command struct {
	name    string
	args    string // synopsis after the flags
	summary string
	// needs are what the services it always starts ask of an engine: its
	// --engine offers only the engines that can.
	needs engine.Needs
	// run parses its flags with e.flags and does the work.
	run func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "", "run every portside service with embedded defaults", engine.Needs{SharedState: true}, runServe},
		{"echo", "", "run the echo service (RFC 862) over TCP and UDP", engine.Needs{}, runEcho},
		{"http", "", "serve files over HTTP/1.1, with uploads if asked", engine.Needs{}, runHTTP},
		{"chat", "", "run the chat server: rooms over a line protocol and IRC, with history ('chat passwd' hashes an operator's password)", engine.Needs{SharedState: true}, runChat},
		{"connect", "HOST:PORT", "talk to a server: stdin to the socket, the socket to stdout", engine.Needs{}, runConnect},
		{"bench", "echo|http|chat ADDR|URL", "load-test a server, checking every reply; compare servers side by side", engine.Needs{}, runBench},
	}
}

// env is what a subcommand runs with.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	g              globals
	log            *slog.Logger
	cmd            command
	fs             *flag.FlagSet
}

// globals are accepted by every subcommand.
type globals struct {
	logLevel     string
	logFormat    string
	engine       string
	loops        int
	maxChildren  int
	metrics      string
	drainTimeout time.Duration
}

// usageError makes Run print the message and exit 2; with the usage after
// it unless brief (an option that is well formed but cannot work, where
// the message says what to do and a page of flags would bury it).
type usageError struct {
	msg   string
	brief bool
}

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{msg: fmt.Sprintf(format, a...)} }

// exitError ends the command with its own status, saying msg if any.
type exitError struct {
	code int
	msg  string
}

func (x exitError) Error() string { return x.msg }

// orList joins names as "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// conflictf is a usage error of one line: the flag, why it cannot work,
// what to do instead.
func conflictf(format string, a ...any) error {
	return usageError{msg: fmt.Sprintf(format, a...), brief: true}
}

// Run runs the command line args (without the program name) and returns the
// exit status: 0 success, 1 failure, 2 usage error.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		mainUsage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, version())
		return 0
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return Run(ctx, []string{args[1], "--help"}, stdin, stdout, stderr)
		}
		mainUsage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		e := &env{stdin: stdin, stdout: stdout, stderr: stderr, cmd: c}
		err := c.run(ctx, e, args[1:])
		var ue usageError
		var xe exitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &xe):
			if xe.msg != "" {
				fmt.Fprintf(stderr, "portside %s: %s\n", name, xe.msg)
			}
			return xe.code
		case errors.Is(err, flag.ErrHelp):
			e.usage(stdout)
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "portside %s: %s\n", name, ue.msg)
			if e.fs != nil && !ue.brief {
				e.usage(stderr)
			}
			return 2
		default:
			fmt.Fprintf(stderr, "portside %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "portside: unknown command %q\n\n", name)
	mainUsage(stderr)
	return 2
}

func mainUsage(w io.Writer) {
	fmt.Fprint(w, "portside: network servers you can learn from, run safely and measure.\n\n")
	fmt.Fprint(w, "Usage:\n  portside <command> [flags] [args]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'portside <command> --help' for a command's flags, 'portside --version' for the build.\n")
}

// flags starts the subcommand's flag set with the global flags in it.
func (e *env) flags() *flag.FlagSet {
	fs := flag.NewFlagSet(e.cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Run prints errors and usage itself
	fs.StringVar(&e.g.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&e.g.logFormat, "log-format", "text", "log `format`: text or json")
	e.fs = fs
	return fs
}

// serverFlags adds the flags of subcommands that run services.
func (e *env) serverFlags(fs *flag.FlagSet) {
	fs.StringVar(&e.g.engine, "engine", engine.Default, "concurrency `engine`: "+strings.Join(e.engines(), ", "))
	fs.IntVar(&e.g.loops, "loops", 0, "epoll and uring engines: event `loops` (0: one per CPU); other engines refuse it")
	fs.IntVar(&e.g.maxChildren, "max-children", 0, "fork engine: most child processes at once, per service (0: as the service's connection limit); other engines refuse it")
	fs.StringVar(&e.g.metrics, "metrics", "", "serve Prometheus metrics and Go profiles (/debug/pprof/) on `addr`")
	fs.DurationVar(&e.g.drainTimeout, "drain-timeout", server.DefaultDrainTimeout, "on shutdown, how long connections may take to finish")
}

// engines lists the engines that can run what the command starts.
func (e *env) engines() []string { return engine.Able(e.cmd.needs) }

// checkEngine refuses options that would do nothing under the engine named.
func (e *env) checkEngine() error {
	for _, o := range []struct{ flag, field string }{{"loops", "Loops"}, {"max-children", "MaxChildren"}} {
		if e.explicit(o.flag) && !engine.Takes(e.g.engine, o.field) {
			var takers []string
			for _, n := range engine.Names() {
				if engine.Takes(n, o.field) {
					takers = append(takers, n)
				}
			}
			return conflictf("--%s does nothing under --engine %s: it is for --engine %s; drop it or use that engine",
				o.flag, e.g.engine, orList(takers))
		}
	}
	return nil
}

// parse parses args and builds the logger. Positional arguments are
// returned; want is how many there must be (-1: any).
func (e *env) parse(fs *flag.FlagSet, args []string, want int) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{msg: doubleDash(err.Error())}
	}
	if want >= 0 && fs.NArg() != want {
		if fs.NArg() > want {
			return nil, usagef("unexpected argument %q", fs.Arg(want))
		}
		return nil, usagef("missing %s", e.cmd.args)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(e.g.logLevel)); err != nil {
		return nil, usagef("bad --log-level %q", e.g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch e.g.logFormat {
	case "text":
		e.log = slog.New(slog.NewTextHandler(e.stderr, opts))
	case "json":
		e.log = slog.New(slog.NewJSONHandler(e.stderr, opts))
	default:
		return nil, usagef("bad --log-format %q: want text or json", e.g.logFormat)
	}
	return fs.Args(), nil
}

// flagName is a flag as the flag package names it in its errors: one dash.
var flagName = regexp.MustCompile(`(^|[ :])-([a-z][a-z0-9-]+)`)

// doubleDash names flags in the flag package's errors as help and the
// documentation do: --name (one-letter flags keep their one dash).
func doubleDash(msg string) string {
	return flagName.ReplaceAllString(msg, "${1}--${2}")
}

// explicit reports whether the flag called name was given.
func (e *env) explicit(name string) bool {
	if e.fs == nil {
		return false
	}
	found := false
	e.fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// tlsEngine switches to an engine that can serve TLS when TLS is asked for
// and no engine was named; a named engine that cannot is left to say so.
func (e *env) tlsEngine(wantTLS bool) {
	if wantTLS && !e.explicit("engine") {
		e.g.engine = engine.ForTLS
	}
}

func (e *env) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: portside %s\n\n%s.\n\nFlags:\n", strings.TrimSpace(e.cmd.name+" [flags] "+e.cmd.args), capitalize(e.cmd.summary))
	printFlags(w, e.fs)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// printFlags prints fs's flags as they are typed: --name, or -x for a
// one-letter name, with the argument's kind, the usage and the default.
// It is flag.PrintDefaults with the double dash the documentation uses.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		kind, usage := flag.UnquoteUsage(f)
		line := "  " + dash + f.Name
		if kind != "" {
			line += " " + kind
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		if def, ok := shownDefault(f); ok {
			if isStringFlag(f) {
				line += fmt.Sprintf(" (default %q)", def)
			} else {
				line += fmt.Sprintf(" (default %v)", def)
			}
		}
		fmt.Fprintln(w, line)
	})
}

// shownDefault returns f's default unless it is its type's zero value,
// which goes unsaid as in flag.PrintDefaults.
func shownDefault(f *flag.Flag) (string, bool) {
	switch f.DefValue {
	case "", "0", "false", "0s", "<nil>", "[]":
		return "", false
	}
	return f.DefValue, true
}

// isStringFlag reports whether f holds a plain string, whose default is
// quoted.
func isStringFlag(f *flag.Flag) bool {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	_, ok = g.Get().(string)
	return ok
}
