//go:build linux

package readiness

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/portside/portside/engine/internal/outq"
	"github.com/portside/portside/engine/internal/wheel"
	"github.com/portside/portside/server"
)

// conn is one connection. Fields marked loop-only are touched by the loop's
// goroutine alone; the queue is shared with writers on any goroutine under
// mu. It is the epoll engine's connection without its cache-line layout:
// these engines' cost per wake-up is in the waiter, not here.
type conn struct {
	// loop only
	fd        int32
	events    uint8         // interest given to the waiter
	flags     atomic.Uint32 // flagNotified, flagControl (shared)
	blind     bool          // lingering on a descriptor the waiter cannot watch
	eof       bool          // the peer shut its write side
	paused    bool          // reading paused: output above the high-water mark
	closing   bool          // closing once the queue is flushed, with reason err
	done      bool          // server.Service.Closed has been called
	lingering bool          // write side shut, discarding input until EOF
	refused   bool          // never admitted: no handler calls
	wantOut   bool          // the socket buffer was full: watched for writing
	upaused   bool          // reading paused by the handler (PauseRead)
	drainWait bool          // Drained is due once the queue is down to drainAsk's mark
	l         *loop
	active    int64  // loop time of the last input or output progress
	in        []byte // unconsumed input, from inPool; nil when there is none

	mu         sync.Mutex
	drainAsk   outq.Mark  // NotifyDrained's request
	closeReq   bool       // no more writes: Close was called or the engine is closing
	slow       bool       // Write went above MaxQueue: close as a slow consumer
	readPaused bool       // PauseRead asked, ResumeRead not yet
	timerSet   bool       // SetTimer asked: tm.want holds the deadline
	out        outq.Queue // the output, its Mem and Queued what the limits and Queued read

	// loop only
	inb       *[]byte // the pooled buffer behind in
	err       error   // close reason
	lingerEnd int64
	idle      wheel.Node[*conn] // in the idle-timeout wheel
	tm        *ctimer           // the handler's timer, once it has set one

	server.ConnBase
}

// Bits of conn.flags.
const (
	flagNotified = 1 << iota // in the loop's pending list
	flagControl              // the handler changed its timer, pause or Drained request
)

// ctimer is a connection's timer (Conn.SetTimer), on its loop's timer
// wheel. Allocated on first use, so connections that never set one pay a
// pointer.
type ctimer struct {
	node wheel.Node[*conn]
	at   int64 // loop only: the deadline filed, loop time
	want int64 // under conn.mu: the deadline asked for, -1 to cancel
}

func newConn(l *loop, fd int) *conn {
	c := &conn{l: l, fd: int32(fd)}
	c.idle = wheel.Node[*conn]{Owner: c}
	return c
}

var errNegative = errors.New("readiness: negative length")

// Write queues a copy of b. It never blocks: it takes the connection's lock,
// which the loop holds only for non-blocking sends.
func (c *conn) Write(b []byte) error {
	c.mu.Lock()
	if c.closeReq {
		c.mu.Unlock()
		return server.ErrClosed
	}
	if len(b) == 0 {
		c.mu.Unlock()
		return nil
	}
	if c.out.Mem()+len(b) > c.l.maxQueue {
		c.closeReq = true
		c.slow = true
		c.mu.Unlock()
		c.notify()
		return server.ErrSlowConsumer
	}
	c.out.Append(b)
	c.mu.Unlock()
	c.notify()
	return nil
}

// WriteFile queues n bytes of f from off, sent with sendfile(2). It takes
// ownership of f and closes it once the bytes are sent, the connection is
// gone, or WriteFile fails. File bytes count in Queued but not against
// MaxQueue or the high-water mark, which bound memory.
func (c *conn) WriteFile(f *os.File, off, n int64) error {
	if n < 0 || off < 0 {
		f.Close()
		return errNegative
	}
	c.mu.Lock()
	if c.closeReq {
		c.mu.Unlock()
		f.Close()
		return server.ErrClosed
	}
	if n == 0 {
		c.mu.Unlock()
		f.Close()
		return nil
	}
	c.out.AppendFile(f, off, n)
	c.mu.Unlock()
	c.notify()
	return nil
}

// Close closes the connection once queued output is flushed.
func (c *conn) Close() error { return c.CloseWith(nil) }

// CloseWith closes c once its queue is flushed, for err. The reason waits
// in the loop's book (reasons), not in c, which has no room for a rare
// field; it is filed before closeReq is set, so the loop finds it when it
// sees the close.
func (c *conn) CloseWith(err error) error {
	c.mu.Lock()
	if c.closeReq {
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		c.l.why.File(c, &server.HandlerError{Err: err})
	}
	c.closeReq = true
	c.mu.Unlock()
	c.notify()
	return nil
}

// token identifies c in loop.cur.
func (c *conn) token() uintptr { return uintptr(unsafe.Pointer(c)) }

// Queued reports the bytes queued but not yet sent.
func (c *conn) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.out.Queued())
}

// notify tells the loop that c has output or a close to act on. Inside one
// of c's own callbacks the loop looks at c when the callback returns, so
// nothing needs doing: the loop clears cur before it looks, and the lock
// ordering makes the writer's queued bytes visible to it.
func (c *conn) notify() {
	l := c.l
	if l.cur.Load() == c.token() {
		return
	}
	if c.flags.Or(flagNotified)&flagNotified != 0 {
		return
	}
	l.mu.Lock()
	l.pending = append(l.pending, c)
	l.npending.Add(1)
	l.wakeLocked()
	l.mu.Unlock()
}

// releaseOut drops the queue; mu must be held.
func (c *conn) releaseOutLocked() {
	c.out.Release()
}

var inPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// keepInput stores rest as c's unconsumed input; rest may alias c.in.
func (c *conn) keepInput(rest []byte) {
	if c.inb == nil {
		c.inb = inPool.Get().(*[]byte)
		c.in = (*c.inb)[:0]
	}
	c.in = c.in[:copy(c.in[:cap(c.in)], rest)]
	if len(c.in) < len(rest) {
		c.in = append(c.in, rest[len(c.in):]...)
	}
}

// releaseInput drops c's unconsumed input, so an idle connection owns no
// buffer.
func (c *conn) releaseInput() {
	if c.in == nil { // in and inb are set together; in is on a hot line
		return
	}
	if cap(c.in) <= 64<<10 {
		*c.inb = c.in[:0]
		inPool.Put(c.inb)
	}
	c.in, c.inb = nil, nil
}
