package stream

import (
	"bytes"
	"io"
	"time"

	"github.com/portside/portside/server"
)

// Handler runs fn once per connection, on a goroutine of its own, and
// closes the connection (once its output is sent) when fn returns. The
// returned handler runs under every engine; under fork, mark the service
// Stateless if fn keeps nothing shared between connections.
//
// A panic in fn closes that connection alone, as a panic in a callback
// would: logged once at error level and counted in Stats.HandlerPanics.
func Handler(fn func(c *Conn)) server.Handler {
	return &handler{fn: fn, maxInput: server.DefaultMaxInput, window: server.DefaultHighWater, low: server.DefaultHighWater / 2}
}

type handler struct {
	fn       func(*Conn)
	maxInput int // the service's Limits.MaxInput
	window   int // queued output above which Write waits (see Conn.Write)
	low      int // and goes on once it is down to this
}

// InitService learns the service's limits (server.ServiceHandler). Write
// waits above the high-water mark, or half the queue limit if that is
// lower, so that pacing always starts before a slow consumer is cut off;
// Drained then comes at the low-water mark.
func (h *handler) InitService(s *server.Service) {
	h.maxInput = s.Limits.MaxInput
	h.window = min(s.Limits.HighWater, s.Limits.MaxQueue/2)
	h.low = min(s.Limits.LowWater(), h.window)
}

// SpawnsGoroutines implements server.Spawner: each connection's function
// runs on a goroutine of its own, woken by every Data call.
func (*handler) SpawnsGoroutines() bool { return true }

func conn(sc server.Conn) *Conn { return sc.Value().(*Conn) }

func (h *handler) Open(sc server.Conn) {
	c := newConn()
	c.sc, c.max, c.window, c.low = sc, h.maxInput, h.window, h.low
	sc.SetValue(c)
	go h.run(c)
}

func (h *handler) run(c *Conn) {
	defer func() {
		if v := recover(); v != nil {
			// The engine reports and counts panics in callbacks; this
			// one is handed to it through the connection's timer, whose
			// callback panics with the same value.
			c.mu.Lock()
			c.panicked = v
			c.mu.Unlock()
			c.sc.SetTimer(time.Nanosecond)
			return
		}
		c.sc.Close()
	}()
	h.fn(c)
}

// Data hands the waiting read what it asked for, and everything before it:
// all of in for ReadAvailable and ReadN, in up to its last delimiter for
// ReadUntil, so that a partial line stays with the engine. A line that
// outgrows Limits.MaxInput closes the connection with
// server.ErrInputTooLarge. While no read waits, Data keeps what came, and
// pauses the connection once MaxInput is kept, until a read needs more.
func (*handler) Data(sc server.Conn, in []byte) (int, error) {
	c := conn(sc)
	c.mu.Lock()
	if c.overflow {
		c.mu.Unlock()
		return 0, server.ErrInputTooLarge
	}
	k := 0
	switch c.want.kind {
	case wantNone:
		// Kept here rather than left with the engine, which would count
		// it against Limits.MaxInput even though no read has asked for
		// it yet. Reading pauses once MaxInput is waiting, so a busy
		// function holds at most that and one read more; not sooner,
		// because a pause and a resume cost an engine work (epoll: two
		// epoll_ctl calls) that a function reading pipelined input
		// would otherwise pay for every batch.
		c.appendInput(in)
		if !c.paused && len(c.buf)-c.off >= c.max {
			c.paused = true
			sc.PauseRead()
		}
		c.mu.Unlock()
		return len(in), nil
	case wantAny:
		k = len(in)
	case wantDelim:
		if i := bytes.LastIndexByte(in[c.scanIn:], c.want.delim); i >= 0 {
			k = c.scanIn + i + 1
		} else if len(c.buf)-c.off+len(in) > c.max {
			c.mu.Unlock()
			return 0, server.ErrInputTooLarge
		} else {
			c.scanIn = len(in)
		}
	case wantN:
		if len(in) >= c.want.n {
			k = len(in)
		}
	}
	if k > 0 {
		c.appendInput(in[:k])
		c.want, c.scanIn = want{}, 0
		c.cond.Broadcast()
	}
	c.mu.Unlock()
	return k, nil
}

// ReadEOF: the peer is done sending. The function reads what is left, then
// io.EOF, and may still write; the connection closes when it returns.
func (*handler) ReadEOF(sc server.Conn, rest []byte) {
	c := conn(sc)
	c.mu.Lock()
	c.appendInput(rest)
	if c.err == nil {
		c.err = io.EOF
	}
	c.cond.Broadcast()
	c.mu.Unlock()
}

func (*handler) Close(sc server.Conn, err error) {
	c := conn(sc)
	c.mu.Lock()
	switch {
	case err != nil:
		c.err = err
	case c.err == nil:
		c.err = server.ErrClosed
	}
	c.cond.Broadcast()
	c.mu.Unlock()
}

// Timer times out a waiting read whose deadline has passed. The timer is
// armed lazily (see awaitData), so it may come early: it then re-arms for
// what is left.
func (*handler) Timer(sc server.Conn) {
	c := conn(sc)
	c.mu.Lock()
	if v := c.panicked; v != nil {
		c.mu.Unlock()
		panic(v)
	}
	c.armed = time.Time{}
	if c.want.kind != wantNone && !c.deadline.IsZero() {
		if left := time.Until(c.deadline); left > 0 {
			c.armed = c.deadline
			sc.SetTimer(left)
		} else {
			c.timedOut = true
			c.cond.Broadcast()
		}
	}
	c.mu.Unlock()
}

func (*handler) Drained(sc server.Conn) {
	c := conn(sc)
	c.mu.Lock()
	c.draining = false
	c.cond.Broadcast()
	c.mu.Unlock()
}

// awaitData waits, with c.mu held, until Data has handed over what w asks
// for, the connection ends, or the read timeout passes. It resumes reading
// if Data paused it. The timer is armed only if it is not already armed for
// an earlier deadline, so a connection whose reads complete in time arms it
// about once per timeout, not once per read.
func (c *Conn) awaitData(w want) error {
	c.want, c.scanIn = w, 0
	c.deadline = time.Time{}
	// The engine's methods are called under c.mu, so that the pause and
	// the timer follow the order of the bookkeeping here; the engine
	// never holds its own locks while it calls the handler.
	if c.timeout > 0 {
		c.deadline = time.Now().Add(c.timeout)
		if c.armed.IsZero() || c.armed.After(c.deadline) {
			c.armed = c.deadline
			c.sc.SetTimer(c.timeout)
		}
	}
	if c.paused {
		c.paused = false
		c.sc.ResumeRead()
	}
	for c.want.kind != wantNone && c.err == nil && !c.timedOut {
		c.cond.Wait()
	}
	timedOut := c.timedOut && c.want.kind != wantNone
	c.want, c.deadline, c.timedOut = want{}, time.Time{}, false
	if timedOut {
		return ErrTimeout
	}
	return nil
}

// paceWrites waits while more than c.window bytes are queued, until the
// engine says the queue has drained or the connection is gone.
func (c *Conn) paceWrites() error {
	if c.sc.Queued() <= c.window {
		return nil
	}
	c.mu.Lock()
	c.draining = true
	c.mu.Unlock()
	c.sc.NotifyDrained(c.low)
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.draining && (c.err == nil || c.err == io.EOF) {
		c.cond.Wait()
	}
	if c.err != nil && c.err != io.EOF {
		return server.ErrClosed
	}
	return nil
}

// overflowed is called, with c.mu held, when the input a read waits for
// has outgrown the limit. A served connection is closed for
// server.ErrInputTooLarge, which the engine logs and counts; a Data call
// already on its way fails with the same reason.
func (c *Conn) overflowed() error {
	c.err = server.ErrInputTooLarge
	if c.sc == nil {
		return c.err
	}
	c.overflow = true
	c.sc.CloseWith(server.ErrInputTooLarge)
	return c.err
}
