package servertest

import (
	"fmt"
	"net"
	"testing"

	"github.com/portside/portside/server"
)

// Option adjusts Start, Feed and Run.
type Option func(*config)

type config struct {
	limits        server.Limits
	clock         *Clock
	splits        []Split
	local, remote net.Addr
}

func configure(opts []Option) config {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	s := server.Service{Limits: cfg.limits}
	s.Init()
	cfg.limits = s.Limits
	if cfg.clock == nil {
		cfg.clock = NewClock(Epoch)
	}
	return cfg
}

// WithLimits sets the limits the session enforces as an engine would
// (MaxInput, MaxQueue, HighWater and the low-water mark); zero fields take
// the server's defaults.
func WithLimits(l server.Limits) Option { return func(c *config) { c.limits = l } }

// WithClock makes the session's timers count on k, shared with other
// sessions and with the handler's own idea of the time.
func WithClock(k *Clock) Option { return func(c *config) { c.clock = k } }

// WithAddrs sets the addresses the session's Conn reports (see
// Conn.SetAddrs).
func WithAddrs(local, remote net.Addr) Option {
	return func(c *config) { c.local, c.remote = local, remote }
}

// Splits sets the ways Run cuts the input, besides whole. Without it Run
// tries a byte at a time, every cut in two (for input up to 1 KiB) and a
// few random cuts.
func Splits(s ...Split) Option {
	return func(c *config) { c.splits = append(c.splits, s...) }
}

// Transcript is what happened on one connection.
type Transcript struct {
	Split  string   // how the input was cut
	Output string   // every byte written, WriteFile contents included
	Err    error    // the reason Handler.Close was given: nil for a clean close
	Closed bool     // the handler called Conn.Close
	Log    []string // requests and callbacks in order (see Conn.Log)
}

// Same reports whether two transcripts tell the same story to the peer:
// the same output, closed the same way for the same reason.
func (tr *Transcript) Same(o *Transcript) bool {
	return tr.Output == o.Output && tr.Closed == o.Closed && reasonString(tr.Err) == reasonString(o.Err)
}

func (tr *Transcript) String() string {
	return fmt.Sprintf("%s: closed by handler %t, reason %s, output %d bytes:\n%q", tr.Split, tr.Closed, reasonString(tr.Err), len(tr.Output), tr.Output)
}

// Feed plays one whole connection of h: Open, in cut as split says, the
// peer's EOF, and Close if the handler has not closed by then.
func Feed(t testing.TB, h server.Handler, in []byte, split Split, opts ...Option) *Transcript {
	t.Helper()
	s := Start(t, h, opts...)
	s.SendSplit(in, split)
	s.EOF()
	tr := s.Transcript()
	tr.Split = split.String()
	return tr
}

// Run plays a connection of h with in as its input, whole and then cut in
// each of the ways the options say (see Splits), and fails the test if the
// handler's answer differs from its answer to the whole input. It returns
// the transcript of the whole. h serves every connection: a handler that
// keeps state across connections needs RunEach.
func Run(t testing.TB, h server.Handler, in []byte, opts ...Option) *Transcript {
	t.Helper()
	return RunEach(t, func() server.Handler { return h }, in, opts...)
}

// RunEach is Run with a handler of its own, from newHandler, for each
// connection.
func RunEach(t testing.TB, newHandler func() server.Handler, in []byte, opts ...Option) *Transcript {
	t.Helper()
	cfg := configure(opts)
	splits := cfg.splits
	if splits == nil {
		splits = append(splits, Chunks(1))
		if len(in) <= 1024 {
			splits = append(splits, EveryCut(len(in))...)
		}
		splits = append(splits, Random(1), Random(2), Random(3))
	}
	whole := Feed(t, newHandler(), in, Whole(), opts...)
	fails := 0
	for _, sp := range splits {
		tr := Feed(t, newHandler(), in, sp, opts...)
		if tr.Same(whole) {
			continue
		}
		t.Errorf("servertest: input of %d bytes answered differently when cut (a handler that keeps its input after Data sees it overwritten):\n%s\n%s", len(in), whole, tr)
		if fails++; fails == 3 {
			t.Errorf("servertest: more splits not tried")
			break
		}
	}
	return whole
}
