package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portside/portside/bench"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func runBench(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	var (
		cfg                       bench.Config
		keepAlive, jsonOut, quiet bool
		body, bodyFile, pathsFile string
		htmlFile, cpus            string
		paths, headers, targets   listFlag
		pids                      listFlag
		chatCfg                   bench.ChatConfig
	)
	fs.IntVar(&cfg.Conns, "c", 10, "connections (in closed loop, the concurrency)")
	fs.DurationVar(&cfg.Duration, "d", 10*time.Second, "measure each target for this long")
	fs.Int64Var(&cfg.Count, "n", 0, "or stop after this many requests, whichever comes first")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "load before measuring, left out of the results")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: `requests` per second, over all connections (0: closed loop)")
	fs.IntVar(&cfg.Pipeline, "pipeline", 1, "requests in flight per connection")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Second, "a reply later than this is an error")
	fs.IntVar(&cfg.Rounds, "rounds", 0, "measure each target this many times, interleaved (default 1, or 3 with several targets)")
	// The default depends on the mode, so the flag's own is 0 (not shown)
	// and the help says both.
	fs.IntVar(&cfg.Size, "size", 0, "echo: each message's size in `bytes` (default 64); chat: pad each message's text to this many bytes (default 0: no padding); http: not used")
	fs.BoolVar(&cfg.UDP, "udp", false, "echo: send UDP datagrams instead of a TCP stream")
	fs.BoolVar(&keepAlive, "keepalive", true, "http: reuse connections (--keepalive=false: one request each)")
	fs.StringVar(&cfg.HTTP.Method, "method", "GET", "http: request `method`")
	fs.StringVar(&body, "body", "", "http: request body")
	fs.StringVar(&bodyFile, "body-file", "", "http: request body from `file`")
	fs.Var(&paths, "path", "http: request `path`, repeatable; several are used in rotation")
	fs.StringVar(&pathsFile, "paths-file", "", "http: request paths from `file`, one a line, used in rotation")
	fs.Var(&headers, "header", "http: extra request header `Name: value`, repeatable")
	fs.IntVar(&cfg.HTTP.Status, "status", 200, "http: the status every reply must have")
	fs.Int64Var(&cfg.HTTP.Length, "length", -1, "http: the body length every reply must have (-1: the first reply's, per path)")
	fs.Var(&targets, "target", "compare mode: `NAME=ADDR[@PID]`, repeatable; ratios are against the first")
	fs.Var(&pids, "server-pid", "measure this server `pid`'s CPU time (and its children's); repeatable")
	fs.StringVar(&cpus, "cpus", "", "pin the generator to these CPUs (e.g. 0 or 0-1)")
	fs.BoolVar(&jsonOut, "json", false, "print the report as JSON ("+bench.Schema+")")
	fs.StringVar(&htmlFile, "html", "", "also write a self-contained HTML report to `file`")
	fs.BoolVar(&quiet, "quiet", false, "no live progress line")
	fs.IntVar(&chatCfg.Senders, "senders", 1, "chat: members that say messages, sharing --rate")
	fs.StringVar(&chatCfg.Room, "room", "bench", "chat: the `room` every member joins")
	fs.BoolVar(&chatCfg.IRC, "irc", false, "chat: speak IRC instead of the line protocol")
	fs.BoolVar(&chatCfg.Idle, "idle", false, "chat: only log in and join, hold for -d, and report the server's memory per member")
	fs.IntVar(&chatCfg.Rooms, "rooms", 1, "chat --idle: spread the members over this many rooms")
	fs.IntVar(&chatCfg.Dialers, "dialers", 64, "chat: members logging in at once")
	fs.Func("also", "chat: another node `ADDR` of the same cluster; members are dealt round-robin over all (repeatable)", func(v string) error {
		chatCfg.Also = append(chatCfg.Also, v)
		return nil
	})

	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cfg.Mode, args = bench.Mode(args[0]), args[1:]
	}
	// Flags may follow the address, as people type them.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError{msg: err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if _, err := e.parse(fs, nil, 0); err != nil {
		return err
	}
	if cfg.Mode == "" && len(pos) > 0 {
		cfg.Mode, pos = bench.Mode(pos[0]), pos[1:]
	}
	if cfg.Mode == bench.Chat {
		return runBenchChat(ctx, e, fs, chatCfg, &cfg, pos, pids, jsonOut, cpus)
	}
	if !flagSet(fs, "size") {
		cfg.Size = 64
	}
	switch {
	case cfg.Mode == "":
		return usagef("missing echo, http or chat")
	case cfg.Mode != bench.Echo && cfg.Mode != bench.HTTP:
		return usagef("unknown mode %q: want echo, http or chat", cfg.Mode)
	case len(pos) > 1:
		return usagef("unexpected argument %q", pos[1])
	case len(pos) == 1 && len(targets) > 0:
		return usagef("give an address or --target, not both")
	case len(pos) == 0 && len(targets) == 0:
		return usagef("missing %s", map[bench.Mode]string{bench.Echo: "ADDR", bench.HTTP: "URL"}[cfg.Mode])
	case cfg.Conns <= 0:
		return usagef("-c %d: need at least one connection", cfg.Conns)
	case cfg.Rate < 0:
		return usagef("--rate %g: must not be negative", cfg.Rate)
	case cfg.Count < 0:
		return usagef("-n %d: must not be negative", cfg.Count)
	case cfg.Duration <= 0:
		return usagef("-d %s: must be positive", cfg.Duration)
	case cfg.Warmup < 0:
		return usagef("--warmup %s: must not be negative", cfg.Warmup)
	case cfg.Pipeline <= 0:
		return usagef("--pipeline %d: must be at least 1", cfg.Pipeline)
	case cfg.Timeout <= 0:
		return usagef("--timeout %s: must be positive", cfg.Timeout)
	case cfg.Rounds < 0:
		return usagef("--rounds %d: must be at least 1", cfg.Rounds)
	case cfg.Size <= 0:
		return usagef("--size %d: must be at least 1", cfg.Size)
	case len(pids) > 0 && len(targets) > 0:
		return usagef("with --target, give each target's pid as NAME=ADDR@PID")
	}
	var pidList []int
	for _, p := range pids {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return usagef("--server-pid %q: want a process id", p)
		}
		pidList = append(pidList, n)
	}
	if len(pos) == 1 {
		// A single target is named by its address.
		cfg.Targets = []bench.Target{{Name: pos[0], Addr: pos[0], PIDs: pidList}}
	}
	for _, t := range targets {
		tg, err := parseTarget(t)
		if err != nil {
			return usagef("--target %q: %v", t, err)
		}
		cfg.Targets = append(cfg.Targets, tg)
	}
	if cfg.Rounds == 0 && len(cfg.Targets) > 1 {
		cfg.Rounds = 3
	}
	h := &cfg.HTTP
	h.NoKeepAlive = !keepAlive
	h.Method = strings.ToUpper(h.Method)
	h.Paths, h.Headers = paths, headers
	if body != "" && bodyFile != "" {
		return usagef("--body and --body-file exclude each other")
	}
	h.Body = []byte(body)
	if bodyFile != "" {
		b, err := os.ReadFile(bodyFile)
		if err != nil {
			return err
		}
		h.Body = b
	}
	if pathsFile != "" {
		b, err := os.ReadFile(pathsFile)
		if err != nil {
			return err
		}
		for l := range strings.SplitSeq(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				h.Paths = append(h.Paths, l)
			}
		}
		if len(h.Paths) == 0 {
			return usagef("--paths-file %s: no paths in it", pathsFile)
		}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{msg: strings.TrimPrefix(err.Error(), "bench: ")}
	}
	if err := pin(cpus); err != nil {
		return err
	}
	if !quiet && isTerminal(e.stderr) {
		cfg.Progress = e.stderr
	}
	cfg.Logger = e.log

	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	err = printReport(e.stdout, rep, jsonOut)
	if err != nil {
		return err
	}
	if htmlFile != "" {
		if err := writeHTML(rep, htmlFile); err != nil {
			return err
		}
		// On stderr, so that --json output stays JSON.
		fmt.Fprintf(e.stderr, "HTML report written to %s\n", htmlFile)
	}
	switch {
	case rep.Interrupted:
		return errors.New("interrupted: partial report")
	case rep.Failed() > 0:
		return fmt.Errorf("%d %ss failed: %s", rep.Failed(), rep.Unit, failures(rep))
	}
	return nil
}

// runBenchChat is bench chat: the flags it shares with echo and http mean
// what they mean there, with members for connections and messages for
// requests.
func runBenchChat(ctx context.Context, e *env, fs *flag.FlagSet, c bench.ChatConfig, cfg *bench.Config, pos []string, pids listFlag, jsonOut bool, cpus string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range []string{"target", "pipeline", "rounds", "udp", "keepalive", "method", "body", "body-file", "path", "paths-file", "header", "status", "length", "html", "n"} {
		if set[name] {
			return usagef("--%s: not for chat", name)
		}
	}
	switch {
	case len(pos) == 0:
		return usagef("missing ADDR")
	case len(pos) > 1:
		return usagef("unexpected argument %q", pos[1])
	case cfg.Conns < 2 && !c.Idle:
		return usagef("-c %d: a room needs at least 2 members", cfg.Conns)
	case cfg.Conns < 1:
		return usagef("-c %d: need at least one member", cfg.Conns)
	case c.Senders < 1 || c.Senders > cfg.Conns:
		return usagef("--senders %d: must be 1 to -c (%d)", c.Senders, cfg.Conns)
	case cfg.Rate <= 0 && !c.Idle:
		return usagef("--rate is required for chat: messages per second over all senders")
	case cfg.Duration <= 0:
		return usagef("-d %s: must be positive", cfg.Duration)
	case cfg.Warmup < 0:
		return usagef("--warmup %s: must not be negative", cfg.Warmup)
	case cfg.Timeout <= 0:
		return usagef("--timeout %s: must be positive", cfg.Timeout)
	case c.Rooms < 1 || c.Rooms > cfg.Conns:
		return usagef("--rooms %d: must be 1 to -c (%d)", c.Rooms, cfg.Conns)
	case c.Rooms > 1 && !c.Idle:
		return usagef("--rooms: only with --idle")
	case c.Dialers < 1:
		return usagef("--dialers %d: must be at least 1", c.Dialers)
	case cfg.Size < 0 || cfg.Size > 4000:
		return usagef("--size %d: must be 0 to 4000 for chat", cfg.Size)
	}
	for _, p := range pids {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return usagef("--server-pid %q: want a process id", p)
		}
		c.PIDs = append(c.PIDs, n)
	}
	c.Addr, c.Members, c.Rate, c.Size = pos[0], cfg.Conns, cfg.Rate, cfg.Size
	c.Duration, c.Warmup, c.Timeout = cfg.Duration, cfg.Warmup, cfg.Timeout
	c.Logger = e.log
	if err := c.Validate(); err != nil {
		return usageError{msg: strings.TrimPrefix(err.Error(), "bench: ")}
	}
	if err := pin(cpus); err != nil {
		return err
	}
	rep, err := bench.RunChat(ctx, c)
	if err != nil {
		return err
	}
	err = printReport(e.stdout, rep, jsonOut)
	switch {
	case err != nil:
		return err
	case rep.Interrupted:
		return errors.New("interrupted: partial report")
	case !rep.OK():
		return errors.New("not every member got every message exactly once and in order")
	}
	return nil
}

// flagSet reports whether the command line set the flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// failures lists the failed requests of every target by kind, as in
// "unanswered 7, timeout 2".
func failures(rep *bench.Report) string {
	n := map[string]int64{}
	var kinds []string
	for _, t := range rep.Targets {
		for k, v := range t.ErrorKinds {
			if n[k] == 0 {
				kinds = append(kinds, k)
			}
			n[k] += v
		}
	}
	slices.Sort(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
	}
	return strings.Join(parts, ", ")
}

// printReport writes a report as text, or as JSON.
func printReport(w io.Writer, rep interface {
	WriteJSON(io.Writer) error
	WriteText(io.Writer) error
}, json bool) error {
	if json {
		return rep.WriteJSON(w)
	}
	return rep.WriteText(w)
}

// parseTarget reads NAME=ADDR[@PID[,PID...]].
func parseTarget(s string) (bench.Target, error) {
	name, addr, ok := strings.Cut(s, "=")
	if !ok || name == "" || addr == "" {
		return bench.Target{}, errors.New("want NAME=ADDR[@PID]")
	}
	t := bench.Target{Name: name, Addr: addr}
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		for p := range strings.SplitSeq(addr[i+1:], ",") {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 {
				return t, fmt.Errorf("pid %q", p)
			}
			t.PIDs = append(t.PIDs, n)
		}
		t.Addr = addr[:i]
	}
	return t, nil
}

func writeHTML(rep *bench.Report, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// pin keeps the generator on the CPUs of --cpus, if given.
func pin(cpus string) error {
	if cpus == "" {
		return nil
	}
	list, err := bench.ParseCPUs(cpus)
	if err != nil {
		return usagef("--cpus: %v", err)
	}
	return bench.Pin(list)
}
