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
	// run parses its flags with e.flags and does the work.
	run func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "", "run every portside service with embedded defaults", runServe},
		{"echo", "", "run the echo service (RFC 862) over TCP and UDP", runEcho},
		{"http", "", "serve files over HTTP/1.1, with uploads if asked", runHTTP},
		{"chat", "", "run the chat server: rooms over a line protocol and IRC, with history ('chat passwd' hashes an operator's password)", runChat},
		{"connect", "HOST:PORT", "talk to a server: stdin to the socket, the socket to stdout", runConnect},
		{"bench", "echo|http|chat ADDR|URL", "load-test a server, checking every reply; compare servers side by side", runBench},
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

// usageError makes Run print the usage and exit 2.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// Run runs the command line args (without the program name) and returns the
// exit status: 0 success, 1 failure, 2 usage error.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		mainUsage(stderr)
		return 2
	}
	name := args[0]
	switch name {
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
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			e.usage(stdout)
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "portside %s: %s\n", name, ue.msg)
			if e.fs != nil {
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
	fmt.Fprint(w, "\nRun 'portside <command> --help' for a command's flags.\n")
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
	fs.StringVar(&e.g.engine, "engine", engine.Default, "concurrency `engine`: "+strings.Join(engine.Names(), ", "))
	fs.IntVar(&e.g.loops, "loops", 0, "epoll and uring engines: event `loops` (0: one per CPU)")
	fs.IntVar(&e.g.maxChildren, "max-children", 0, "fork engine: most child processes at once (0: as --max-conns)")
	fs.StringVar(&e.g.metrics, "metrics", "", "serve Prometheus metrics and Go profiles (/debug/pprof/) on `addr`")
	fs.DurationVar(&e.g.drainTimeout, "drain-timeout", server.DefaultDrainTimeout, "on shutdown, how long connections may take to finish")
}

// parse parses args and builds the logger. Positional arguments are
// returned; want is how many there must be (-1: any).
func (e *env) parse(fs *flag.FlagSet, args []string, want int) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err.Error()}
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

// explicit reports whether the flag called name was given.
func (e *env) explicit(name string) bool {
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
	e.fs.SetOutput(w)
	e.fs.PrintDefaults()
	e.fs.SetOutput(io.Discard)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
