//go:build linux

package epoll

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

// conn is one connection. Fields marked loop-only are touched by the owning
// loop's goroutine alone; the queue is shared with writers on any goroutine
// under mu.
//
// The fields one message touches come first and fill two cache lines: on a
// busy loop a connection's struct is usually out of cache when its event
// arrives, and each line touched is a miss. The struct is padded to 256
// bytes, a size class whose objects start on a cache line.
type conn struct {
	// loop only
	fd        int32
	events    uint32        // registered epoll interest
	flags     atomic.Uint32 // flagNotified, flagControl (shared)
	added     bool          // registered with epoll
	eof       bool          // the peer shut its write side
	paused    bool          // reading paused: output above the high-water mark
	closing   bool          // closing once the queue is flushed, with reason err
	done      bool          // server.Service.Closed has been called
	lingering bool          // write side shut, discarding input until EOF
	refused   bool          // never admitted: no handler calls
	wantOut   bool          // the socket buffer was full: EPOLLOUT armed
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

	// loop only, and cold
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
	flagWrote                // Write wrote from elsewhere: progress for the idle timeout
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

var errNegative = errors.New("epoll: negative length")

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
	if c.l.r.spawner && c.out.Empty() && c.l.idleNow() {
		// A handler's own goroutine (a stream function's) writes while
		// the loop sleeps in epoll_wait with nothing queued: the write
		// the loop would be woken for is made here instead, saving the
		// eventfd write and the loop's turn. Under c.mu, as the loop's
		// own writes are, so output stays in order; closeReq, set under
		// c.mu before the loop closes the descriptor, guards the fd. A
		// busy loop is left to write, and so are handlers that are not
		// Spawners: a chat room's fan-out, queued while the loop sleeps,
		// gathers into fewer writes (measured: 20% less CPU per delivery
		// written here, but a quarter more latency).
		n, err := write(int(c.fd), b)
		for err == errEINTR {
			n, err = write(int(c.fd), b)
		}
		if n > 0 {
			c.l.stats.BytesOut.Add(int64(n))
			c.flags.Or(flagWrote)
			b = b[n:]
		}
		// EAGAIN or an error: the rest is queued, and the loop's own
		// write meets the error and closes.
		if len(b) == 0 {
			c.mu.Unlock()
			return nil
		}
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

// token identifies c in loop.cur without touching c's cold fields.
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
