package servertest

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portside/portside/server"
)

// Session plays an engine for one connection of a handler. Its methods
// are the engine's side (input arrives, a timer falls due, the peer reads
// or hangs up) and must be called from the test's goroutine; the handler's
// side is the Conn, which the handler may also use from its own
// goroutines. After each callback the session does what an engine does
// when a callback returns: it closes the connection if the handler asked,
// hands kept input again if reading has resumed, and calls Drained if it
// was asked for and the queue is low.
type Session struct {
	t   testing.TB
	h   server.Handler
	c   *Conn
	lim server.Limits
	clk *Clock

	pending  []byte // unconsumed input, the session's own copy
	scratch  []byte // what Data is handed; overwritten after each call
	fresh    bool   // pending holds input the handler has not been handed
	eof      bool   // the peer has shut its side
	eofDue   bool   // ... and the handler has not been told
	bpaused  bool   // reading stopped for backpressure (queue above high water)
	upaused  bool   // the handler had reading paused when last looked at
	finished bool   // Handler.Close has been called
	reason   error
	calls    uint64 // Data calls, for the overwrite pattern
	seed     uint64
	depth    int // callbacks in progress: a callback may not start another
}

var sessions atomic.Uint64

// Start opens a connection of h: a new Conn, Handler.Open, and whatever
// the handler asked for in Open.
func Start(t testing.TB, h server.Handler, opts ...Option) *Session {
	t.Helper()
	cfg := configure(opts)
	s := &Session{t: t, h: h, c: NewConn(), lim: cfg.limits, clk: cfg.clock, seed: sessions.Add(1)}
	s.c.clock = s.clk
	if cfg.local != nil || cfg.remote != nil {
		s.c.SetAddrs(cfg.local, cfg.remote)
	}
	s.c.maxQueue = s.lim.MaxQueue
	_, hasTimer := h.(server.TimerHandler)
	_, hasDrained := h.(server.DrainedHandler)
	s.c.noTimer, s.c.noDrained = !hasTimer, !hasDrained
	s.clk.add(s)
	s.callback("open", func() { h.Open(s.c) })
	s.settle()
	return s
}

// Conn is the connection the handler sees.
func (s *Session) Conn() *Conn { return s.c }

// Clock is the clock the session's timers count on.
func (s *Session) Clock() *Clock { return s.clk }

// Finished reports whether Handler.Close has been called, and with what.
func (s *Session) Finished() (done bool, reason error) { return s.finished, s.reason }

// Pending is a copy of the input the handler has left unconsumed.
func (s *Session) Pending() []byte { return append([]byte(nil), s.pending...) }

func (s *Session) log(format string, args ...any) {
	s.c.mu.Lock()
	s.c.record(format, args...)
	s.c.mu.Unlock()
}

// callback runs one handler callback, checking that none runs inside
// another (a handler calling the session from a callback would break the
// order of callbacks an engine keeps).
func (s *Session) callback(what string, f func()) {
	s.t.Helper()
	if s.depth > 0 {
		s.t.Fatalf("servertest: %s called from inside a callback", what)
	}
	s.log("%s", what)
	s.depth++
	defer func() { s.depth-- }()
	f()
}

// Send is one read: p arrives from the peer and is handed to Data, after
// the input left unconsumed, unless reading is paused; then it waits, as
// in the kernel, until reading resumes. After Close it is dropped.
func (s *Session) Send(p []byte) {
	s.t.Helper()
	if s.finished {
		s.log("input %d dropped: closed", len(p))
		return
	}
	if s.eof {
		s.t.Fatalf("servertest: Send after EOF")
	}
	if len(p) == 0 {
		return
	}
	s.pending = append(s.pending, p...)
	s.fresh = true
	s.settle()
}

// SendString is Send for a string.
func (s *Session) SendString(p string) { s.Send([]byte(p)) }

// SendSplit sends in as the pieces split cuts it into, one read each.
func (s *Session) SendSplit(in []byte, split Split) {
	s.t.Helper()
	at := 0
	for _, n := range split.pieces(len(in)) {
		s.Send(in[at : at+n])
		at += n
	}
}

// reading reports whether the engine would read now.
func (s *Session) reading() bool {
	return !s.finished && !s.bpaused && !s.upaused && !s.closing()
}

func (s *Session) closing() bool {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.c.gone
}

// data hands the pending input to Data in a buffer that is overwritten
// once the call returns.
func (s *Session) data() {
	s.t.Helper()
	s.fresh = false
	n := len(s.pending)
	if cap(s.scratch) < n {
		s.spoil(s.scratch[:cap(s.scratch)])
		s.scratch = make([]byte, max(n, 2*cap(s.scratch), 512))
	}
	in := s.scratch[:n:n] // a handler that appends to in cannot reach past it
	copy(in, s.pending)
	var k int
	var err error
	s.callback(fmt.Sprintf("data %d", n), func() { k, err = s.h.Data(s.c, in) })
	s.calls++
	s.spoil(in)
	if err != nil {
		s.log("data error: %v", err)
		s.pending = s.pending[:0]
		s.finish(&server.HandlerError{Err: err})
		return
	}
	if k < 0 || k > n {
		s.t.Fatalf("servertest: Data consumed %d of %d bytes", k, n)
	}
	s.log("consumed %d/%d", k, n)
	s.pending = append(s.pending[:0], s.pending[k:]...)
	if len(s.pending) > s.lim.MaxInput {
		s.pending = s.pending[:0]
		s.finish(server.ErrInputTooLarge)
	}
}

// spoil overwrites b with a pattern of its session and call, so that a
// handler that kept its input sees bytes that differ from one run to
// another.
func (s *Session) spoil(b []byte) {
	x := s.seed<<32 ^ s.calls // splitmix64, so every byte depends on both
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	var pat [8]byte
	binary.LittleEndian.PutUint64(pat[:], x|0x8080808080808080) // never ASCII
	for i := range b {
		b[i] = pat[i%8]
	}
}

// settle does what an engine does after a callback or a wake-up, until
// nothing more is due.
func (s *Session) settle() {
	s.t.Helper()
	for turns := 0; !s.finished; turns++ {
		if turns > 100000 {
			s.t.Fatalf("servertest: the handler keeps the connection busy without end (Drained asked from Drained, or input never consumed?)")
		}
		s.c.mu.Lock()
		gone, why, slow, paused, want, mark, queued := s.c.gone, s.c.why, s.c.slow, s.c.paused, s.c.wantDrain, s.c.drainMark, s.c.queued
		s.c.mu.Unlock()
		if slow {
			s.finish(server.ErrSlowConsumer)
			return
		}
		if gone {
			if queued == 0 { // closed once what is queued is sent
				s.finish(why)
			}
			return
		}
		if s.upaused && !paused && len(s.pending) > 0 {
			s.fresh = true // reading resumed: the kept input again
		}
		s.upaused = paused
		if !s.bpaused && queued > s.lim.HighWater {
			s.bpaused = true
		} else if s.bpaused && queued <= s.lim.LowWater() {
			s.bpaused = false
		}
		switch {
		case want && queued <= mark:
			s.c.mu.Lock()
			s.c.wantDrain = false
			s.c.mu.Unlock()
			s.callback("drained", func() { s.h.(server.DrainedHandler).Drained(s.c) })
		case s.reading() && s.fresh && len(s.pending) > 0:
			s.data()
		case s.reading() && s.eofDue:
			s.readEOF()
		default:
			return
		}
	}
}

func (s *Session) readEOF() {
	s.eofDue = false
	rest := s.pending
	s.pending, s.fresh = nil, false
	eh, ok := s.h.(server.EOFHandler)
	if !ok {
		s.finish(nil)
		return
	}
	in := make([]byte, len(rest))
	copy(in, rest)
	s.callback(fmt.Sprintf("readeof %d", len(in)), func() { eh.ReadEOF(s.c, in) })
	s.calls++
	s.spoil(in)
}

// EOF is the peer shutting its write side. Once the input before it has
// been handed over, the handler's ReadEOF gets what is left unconsumed (it
// must then Close when it has written all it owes); a handler without
// ReadEOF is closed.
func (s *Session) EOF() {
	s.t.Helper()
	if s.finished || s.eof {
		return
	}
	s.eof, s.eofDue = true, true
	s.settle()
}

// FireTimer fires the connection's timer now, whatever its deadline, if it
// is armed and the connection is not closing. It reports whether Timer was
// called.
func (s *Session) FireTimer() bool {
	s.t.Helper()
	s.settle()
	if s.finished {
		return false
	}
	s.c.mu.Lock()
	armed := s.c.armed && !s.c.gone
	s.c.armed = false
	s.c.mu.Unlock()
	if !armed {
		return false
	}
	s.callback("timer", func() { s.h.(server.TimerHandler).Timer(s.c) })
	s.settle()
	return true
}

// due reports when the armed timer falls due.
func (s *Session) due() (time.Time, bool) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.c.timerAt, s.c.armed && !s.c.gone
}

// Advance moves the session's clock on by d, firing the timers that fall
// due (see Clock.Advance).
func (s *Session) Advance(d time.Duration) { s.clk.Advance(d) }

// Stall makes the peer stop reading: what is written from now on stays
// queued (Conn.Queued counts it), reading stops above Limits.HighWater,
// and above Limits.MaxQueue the connection is closed as a slow consumer.
// Drained waits for the queue to fall to Limits.LowWater(), and a Close the
// handler asks for waits for the queue to empty, before Handler.Close.
func (s *Session) Stall() {
	s.c.mu.Lock()
	s.c.stalled = true
	s.c.mu.Unlock()
	s.log("stall")
}

// Flush makes the peer read all that is queued, and go on reading
// (undoing Stall); a Drained asked for is then called.
func (s *Session) Flush() {
	s.t.Helper()
	s.c.mu.Lock()
	s.c.stalled, s.c.queued = false, 0
	s.c.mu.Unlock()
	s.log("flush")
	s.settle()
}

// Shutdown is a graceful shutdown: the handler's Drain is called (it must
// Close when done), or, without one, the connection is closed.
func (s *Session) Shutdown() {
	s.t.Helper()
	s.settle()
	if s.finished {
		return
	}
	d, ok := s.h.(server.Drainer)
	if !ok {
		s.finish(nil)
		return
	}
	s.callback("drain", func() { d.Drain(s.c) })
	s.settle()
}

// Wait waits for the handler's own goroutines: it settles what they asked
// for (a Close, a resumed read, a Drained) as they ask, until cond holds or
// timeout passes, and reports whether cond held. cond is called with no
// lock held.
func (s *Session) Wait(cond func() bool, timeout time.Duration) bool {
	s.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.settle()
		if cond() {
			return true
		}
		select {
		case <-s.c.kick:
		case <-deadline.C:
			s.settle()
			return cond()
		}
	}
}

// Close ends the connection from the engine's side with reason err: nil
// for a peer that has gone, or an error such as server.ErrIdleTimeout.
// Handler.Close is called if it has not been.
func (s *Session) Close(err error) {
	s.t.Helper()
	s.settle()
	s.finish(err)
}

func (s *Session) finish(err error) {
	if s.finished {
		return
	}
	s.c.mu.Lock()
	s.c.gone, s.c.armed, s.c.wantDrain = true, false, false
	s.c.mu.Unlock()
	s.finished, s.reason = true, err
	s.callback(fmt.Sprintf("closed %v", reasonString(err)), func() { s.h.Close(s.c, err) })
}

func reasonString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// Transcript ends the connection (as Close(nil) does if it is still open)
// and returns what happened on it.
func (s *Session) Transcript() *Transcript {
	s.t.Helper()
	s.Close(nil)
	return &Transcript{
		Output: string(s.c.Output()),
		Err:    s.reason,
		Closed: s.c.Closed(),
		Log:    s.c.Log(),
	}
}
