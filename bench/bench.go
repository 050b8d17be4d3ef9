// Package bench is portside's load generator. It drives echo servers (TCP
// and UDP) and HTTP/1.1 servers, checks every reply, and reports throughput,
// latency percentiles (HdrHistogram), errors by kind, and the CPU time the
// server and the generator itself spent. RunChat drives a chat room the same
// way: see ChatConfig.
//
// Two load models are offered. Closed loop: each connection keeps Pipeline
// requests in flight and sends the next as soon as a reply arrives. Open
// loop: Rate requests per second on one global schedule; a request's latency
// is measured from the time the schedule meant it to be sent, so a server
// that stalls cannot hide the stall by holding the generator back
// (coordinated omission). The uncorrected latency and the schedule lag are
// reported beside it.
//
// Several targets can be measured in one run, in interleaved rounds, so that
// slow drifts of the machine hit every target alike.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Mode is the protocol a run speaks.
type Mode string

const (
	Echo Mode = "echo" // RFC 862: every byte comes back
	HTTP Mode = "http" // HTTP/1.1 requests, status and body length checked
)

// Target is one server under test.
type Target struct {
	Name string
	// Addr is host:port for echo, an http:// URL for HTTP.
	Addr string
	// PIDs are server processes whose CPU time (with their children's) is
	// read from /proc before and after each measured window.
	PIDs []int
}

// HTTPOptions shape the HTTP requests.
type HTTPOptions struct {
	// NoKeepAlive sends each request on a new connection, with
	// "Connection: close".
	NoKeepAlive bool
	Method      string // default GET
	Body        []byte // sent with a Content-Length
	// Paths are request targets used in rotation; empty: the URL's.
	Paths   []string
	Headers []string // extra "Name: value" lines
	Status  int      // the expected status; default 200
	// Length is the expected body length. Negative: learn it from the
	// first response with the expected status, per path, and hold every
	// later response to it.
	Length int64
}

// Config describes a run. Conns, Pipeline and one of Duration or Count are
// required; see Validate.
type Config struct {
	Mode    Mode
	Targets []Target
	// Conns is the number of connections (in closed loop, the
	// concurrency).
	Conns int
	// Pipeline is how many requests each connection keeps in flight.
	Pipeline int
	// Duration bounds each measured window; Count, if positive, ends it
	// after that many requests, whichever comes first.
	Duration time.Duration
	Count    int64
	// Warmup runs load before each measured window and discards it.
	Warmup time.Duration
	// Rate, if positive, is the open-loop rate in requests per second
	// over all connections.
	Rate float64
	// Rounds is how many times each target is measured, interleaved with
	// the others. Default 1.
	Rounds int
	// Timeout is how long a reply may take before it counts as an error
	// and its connection is replaced. Default 5s.
	Timeout time.Duration
	Size    int  // echo: message size in bytes
	UDP     bool // echo over UDP datagrams instead of a TCP stream
	HTTP    HTTPOptions
	// Progress, if set, receives a one-line live display (carriage
	// returns, for a terminal).
	Progress io.Writer
	Logger   *slog.Logger // nil discards
}

// ErrConfig reports a configuration that cannot run.
var ErrConfig = errors.New("bench: bad configuration")

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	switch c.Mode {
	case Echo, HTTP:
	default:
		return bad("unknown mode %q", c.Mode)
	}
	if len(c.Targets) == 0 {
		return bad("no target")
	}
	seen := map[string]bool{}
	for i := range c.Targets {
		t := &c.Targets[i]
		if t.Name == "" {
			t.Name = t.Addr
		}
		if seen[t.Name] {
			return bad("target name %q used twice", t.Name)
		}
		seen[t.Name] = true
		for _, p := range t.PIDs {
			if p <= 0 {
				return bad("pid %d", p)
			}
		}
	}
	if c.Conns <= 0 {
		return bad("connections must be at least 1, not %d", c.Conns)
	}
	if c.Pipeline == 0 {
		c.Pipeline = 1
	}
	if c.Pipeline < 0 || c.Pipeline > 1024 {
		return bad("pipeline depth must be 1 to 1024, not %d", c.Pipeline)
	}
	if c.Duration < 0 || c.Count < 0 || c.Warmup < 0 || c.Timeout < 0 {
		return bad("negative duration or count")
	}
	if c.Duration == 0 && c.Count == 0 {
		return bad("a run needs a duration or a count")
	}
	if c.Duration == 0 {
		// A count alone is still bounded: a stalled server must not
		// hold the run forever.
		c.Duration = 10 * time.Minute
	}
	if c.Rate < 0 {
		return bad("rate must not be negative, not %g", c.Rate)
	}
	if c.Rounds == 0 {
		c.Rounds = 1
	}
	if c.Rounds < 0 {
		return bad("rounds must be at least 1, not %d", c.Rounds)
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	switch c.Mode {
	case Echo:
		if c.Size <= 0 || c.Size > 16<<20 {
			return bad("message size must be 1 B to 16 MiB, not %d", c.Size)
		}
		if c.UDP && (c.Size < udpHeader || c.Size > 65507) {
			return bad("UDP message size must be %d to 65507 bytes, not %d", udpHeader, c.Size)
		}
		for _, t := range c.Targets {
			if _, _, err := net.SplitHostPort(t.Addr); err != nil {
				return bad("target %s: %v", t.Name, err)
			}
		}
	case HTTP:
		h := &c.HTTP
		if h.Method == "" {
			h.Method = "GET"
		}
		if h.Status == 0 {
			h.Status = 200
		}
		if h.Status < 100 || h.Status > 999 {
			return bad("expected status %d", h.Status)
		}
		if h.NoKeepAlive && c.Pipeline > 1 {
			return bad("pipelining needs keep-alive")
		}
		for _, t := range c.Targets {
			if _, err := parseURL(t.Addr); err != nil {
				return bad("target %s: %v", t.Name, err)
			}
		}
		for _, p := range h.Paths {
			if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \r\n") {
				return bad("path %q: want /something without spaces", p)
			}
		}
		for _, l := range h.Headers {
			if !strings.Contains(l, ":") || strings.ContainsAny(l, "\r\n") {
				return bad("header %q: want Name: value", l)
			}
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// parseURL checks an http:// URL and returns it with a port.
func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("%q: only http:// URLs", s)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%q: no host", s)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "80")
	}
	if _, err := strconv.Atoi(u.Port()); err != nil {
		return nil, fmt.Errorf("%q: bad port", s)
	}
	return u, nil
}

// dialAddr is where a target's connections go.
func (c *Config) dialAddr(t Target) string {
	if c.Mode == HTTP {
		u, _ := parseURL(t.Addr)
		return u.Host
	}
	return t.Addr
}

// Run measures every target and returns the report. A target that cannot be
// reached before the run starts is an error; failures during the run are
// counted in the report. When ctx is cancelled the run stops and the report
// covers what was measured, with Interrupted set.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, t := range cfg.Targets {
		if err := preflight(ctx, &cfg, t); err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
	}
	started := time.Now()
	perf := perfUsable(&cfg)
	res := make([]*result, len(cfg.Targets))
	for i := range res {
		res[i] = newResult()
	}
	interrupted := false
	total := cfg.Rounds * len(cfg.Targets)
rounds:
	for round := range cfg.Rounds {
		for i, t := range cfg.Targets {
			if ctx.Err() != nil {
				interrupted = true
				break rounds
			}
			label := t.Name
			if total > 1 {
				label = fmt.Sprintf("%s round %d/%d", t.Name, round+1, cfg.Rounds)
			}
			r := newRun(&cfg, t, label, perf)
			r.execute(ctx)
			res[i].add(r)
			if r.interrupted {
				interrupted = true
				break rounds
			}
		}
	}
	return build(&cfg, started, res, interrupted), nil
}

// preflight makes sure a target answers before any load is sent, so that a
// typo reads as one clear error instead of a report full of failures.
func preflight(ctx context.Context, cfg *Config, t Target) error {
	addr := cfg.dialAddr(t)
	d := net.Dialer{Timeout: 5 * time.Second}
	if cfg.Mode == Echo && cfg.UDP {
		c, err := d.DialContext(ctx, "udp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		probe := make([]byte, udpHeader)
		buf := make([]byte, 64<<10)
		// Datagrams may be lost: try a few times before giving up.
		for range 3 {
			if _, err := c.Write(probe); err != nil {
				return err
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := c.Read(buf); err == nil {
				return nil
			} else if !errors.Is(err, errTimeout) && !isTimeout(err) {
				return err
			}
		}
		return fmt.Errorf("no echo from udp://%s in 3s", addr)
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

var errTimeout = errors.New("bench: timeout")

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
