// Package servertest is a test kit for protocol authors: it plays an
// engine for a server.Handler with byte slices, no sockets, and holds the
// handler to the contract while it does.
//
// Conn is a server.Conn that records what the handler does with it: the
// bytes written (WriteFile contents included), Close calls, timer arming,
// read pauses and requests for Drained. Session drives one connection of a
// handler as an engine would: Open, input in whatever pieces the test
// chooses, Timer and Drained when the test says, the peer's EOF, and Close
// exactly once. Feed plays a whole connection with its input cut as a Split
// says, and Run plays it under many splits and fails the test if the
// handler's answer depends on where its input was cut.
//
// What the kit checks of a handler: Data consumes between 0 and all of
// its input; it does not keep its input after the call (the kit overwrites
// the bytes it handed once Data returns, with a pattern that differs from
// call to call, so a handler that kept them answers differently under
// different splits); Run also holds it to answering the same however its
// input is cut. After Close its writes are refused with server.ErrClosed,
// as on a real connection. What the kit guarantees a handler, as every engine does: one
// callback at a time, Close exactly once, no callback after Close, no
// Timer or Drained once the connection is closing, unconsumed input handed
// again with what follows, nothing while reading is paused.
//
// A panic in a callback is not recovered: it fails the test with its
// stack, where an engine would close the connection.
package servertest

import (
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/portside/portside/server"
)

// The addresses a Conn reports unless SetAddrs (or WithAddrs) says
// otherwise. Read them; do not change them.
var (
	LocalAddr  net.Addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	RemoteAddr net.Addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
)

// Conn is a server.Conn without a socket. It records what the handler asks
// of it; like a real Conn, its Write, WriteString, WriteFile, Close,
// CloseWith, Queued, SetTimer, PauseRead, ResumeRead and NotifyDrained may
// be called from any goroutine.
//
// Alone (from NewConn) it is a recorder for a test that calls a handler
// itself; in a Session it is also the engine's view of the connection:
// written bytes are sent at once unless the session is stalled, a closed
// Conn refuses writes with server.ErrClosed, and SetTimer counts on the
// session's Clock.
type Conn struct {
	server.ConnBase

	mu         sync.Mutex
	out        []byte // written and not yet taken
	written    int64  // bytes written in all
	discard    bool   // count writes, keep nothing
	log        []string
	closeCalls int
	gone       bool  // the connection is closing: writes are refused
	slow       bool  // the queue overflowed while stalled
	stalled    bool  // the peer reads nothing: writes stay queued
	queued     int   // bytes queued while stalled
	maxQueue   int   // the slow-consumer bound, in a session
	paused     bool  // PauseRead without ResumeRead since
	wantDrain  bool  // NotifyDrained asked, Drained not yet called
	why        error // the reason CloseWith gave
	drainMark  int   // the mark it gave
	timerD     time.Duration
	timerAt    time.Time // when the armed timer is due, on clock
	armed      bool
	noTimer    bool // the handler has no Timer method: SetTimer does nothing
	noDrained  bool // the handler has no Drained method
	clock      *Clock
	kick       chan struct{} // a request came, possibly from another goroutine
}

// NewConn returns a Conn with the package's addresses and a unique ID.
func NewConn() *Conn {
	c := &Conn{clock: NewClock(Epoch), kick: make(chan struct{}, 1)}
	c.InitBase(LocalAddr, RemoteAddr)
	return c
}

// SetAddrs sets the addresses the Conn reports, and gives it a new ID; a
// nil address is server.UnknownAddr, as from an engine that could not learn
// it. Call it before handing the Conn to a handler.
func (c *Conn) SetAddrs(local, remote net.Addr) { c.InitBase(local, remote) }

// Discard makes the Conn count what is written from now on and keep none
// of it, nor any record of requests: for benchmarks and for measuring a
// handler's own memory.
func (c *Conn) Discard() {
	c.mu.Lock()
	c.discard, c.out, c.log = true, nil, nil
	c.mu.Unlock()
}

func (c *Conn) record(format string, args ...any) {
	if !c.discard {
		c.log = append(c.log, fmt.Sprintf(format, args...))
	}
}

func (c *Conn) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Write records a copy of b. It returns server.ErrClosed once the
// connection is closing.
func (c *Conn) Write(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeLocked(b, "write")
}

func (c *Conn) writeLocked(b []byte, what string) error {
	return c.writeN(b, int64(len(b)), what)
}

// writeN records a write of n bytes; b is nil for a discarded WriteFile.
func (c *Conn) writeN(b []byte, n int64, what string) error {
	if c.gone {
		if !c.discard {
			c.record("%s %d refused: closed", what, n)
		}
		return server.ErrClosed
	}
	c.written += n
	if !c.discard { // checked here, so a benchmark's writes allocate nothing
		c.record("%s %d", what, n)
		c.out = append(c.out, b...)
	}
	if c.stalled {
		c.queued += int(n)
		if c.maxQueue > 0 && c.queued > c.maxQueue {
			c.slow, c.gone = true, true
			c.poke()
		}
	}
	return nil
}

// WriteString is Write for a string.
func (c *Conn) WriteString(s string) error { return c.Write([]byte(s)) }

// WriteFile records n bytes of f from off, read at once, and closes f,
// also when it returns an error (a short file, a closed connection). After
// Discard it counts n bytes and reads nothing.
func (c *Conn) WriteFile(f *os.File, off, n int64) error {
	defer f.Close()
	if n < 0 {
		return fmt.Errorf("servertest: WriteFile of %d bytes", n)
	}
	c.mu.Lock()
	if c.discard {
		defer c.mu.Unlock()
		return c.writeN(nil, n, "writefile")
	}
	c.mu.Unlock()
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		return fmt.Errorf("servertest: WriteFile %s [%d, %d): %w", f.Name(), off, off+n, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeLocked(buf, "writefile")
}

// Close records the call; the connection then refuses writes. It is safe
// to call more than once, as on a real Conn.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closeCalls++
	c.gone = true
	c.record("close")
	c.mu.Unlock()
	c.poke()
	return nil
}

// CloseWith records a close for err ("closewith <err>"); a session then
// closes for &server.HandlerError{Err: err}, as an engine does, unless
// the connection was closing already. It counts as a Close call.
func (c *Conn) CloseWith(err error) error {
	c.mu.Lock()
	c.closeCalls++
	if !c.gone && err != nil {
		c.why = &server.HandlerError{Err: err}
	}
	c.gone = true
	c.record("closewith %v", err)
	c.mu.Unlock()
	c.poke()
	return nil
}

// Queued is the bytes written while the session is stalled (see
// Session.Stall); otherwise output is sent at once and it is 0.
func (c *Conn) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queued
}

// SetTimer records the arming: d from now on the session's clock, d <= 0
// cancels. Like an engine, it does nothing for a handler without a Timer
// method, or once the connection is closing.
func (c *Conn) SetTimer(d time.Duration) {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.discard {
		c.record("settimer %v", d)
	}
	if c.noTimer || c.gone {
		return
	}
	c.timerD, c.armed = d, d > 0
	c.timerAt = now.Add(d)
}

// PauseRead records that reading is paused.
func (c *Conn) PauseRead() {
	c.mu.Lock()
	c.paused = true
	c.record("pauseread")
	c.mu.Unlock()
}

// ResumeRead records that reading goes on.
func (c *Conn) ResumeRead() {
	c.mu.Lock()
	c.paused = false
	c.record("resumeread")
	c.mu.Unlock()
	c.poke()
}

// NotifyDrained records a request for Drained once at most mark bytes
// are queued. Like an engine, it does nothing for a handler without a
// Drained method.
func (c *Conn) NotifyDrained(mark int) {
	c.mu.Lock()
	c.record("notifydrained %d", mark)
	if !c.noDrained {
		c.wantDrain, c.drainMark = true, max(mark, 0)
	}
	c.mu.Unlock()
	c.poke()
}

// What the test reads back.

// Output returns a copy of everything written and not yet taken.
func (c *Conn) Output() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.out...)
}

// Take returns what was written since the last Take, and forgets it.
func (c *Conn) Take() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := string(c.out)
	c.out = c.out[:0]
	return s
}

// Written is the number of bytes written in all, taken or not.
func (c *Conn) Written() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written
}

// Closed reports whether Close has been called.
func (c *Conn) Closed() bool { return c.CloseCalls() > 0 }

// CloseCalls is the number of Close calls.
func (c *Conn) CloseCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCalls
}

// Timer reports the duration of the last arming and whether the timer is
// armed now (not fired, cancelled or closed since).
func (c *Conn) Timer() (d time.Duration, armed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timerD, c.armed
}

// Paused reports whether reading is paused.
func (c *Conn) Paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused
}

// DrainedAsked reports whether a Drained call has been asked for and not
// yet made.
func (c *Conn) DrainedAsked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wantDrain
}

// Log returns the requests made of the Conn and, in a session, the
// callbacks made to the handler, in order: "write 5", "writefile 3000",
// "close", "closewith <err>", "settimer 30s", "pauseread", "resumeread", "notifydrained 0";
// "open", "data 5/12" (consumed of handed), "timer", "drained",
// "readeof 3", "drain", "closed <reason>".
func (c *Conn) Log() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}
