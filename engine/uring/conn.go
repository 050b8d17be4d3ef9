//go:build linux

package uring

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/portside/portside/engine/internal/wheel"
	"github.com/portside/portside/server"
)

// conn is one connection. Fields marked loop-only are touched by the owning
// loop's goroutine alone; the queue is shared with writers on any goroutine
// under mu. While a send is in flight the kernel reads the chunks at the
// head of the queue: they are popped and recycled only when it completes.
type conn struct {
	// loop only
	fd        int32
	flags     atomic.Uint32 // flagNotified, flagControl (shared)
	recvIn    bool          // a receive is in flight
	sendIn    bool          // a send is in flight: out[head:] is partly the kernel's
	held      bool          // input arrived while not reading: kept in in, not yet handed to Data
	heldEOF   bool          // and then the peer's EOF
	eof       bool          // the peer shut its write side
	paused    bool          // reading paused: output above the high-water mark
	closing   bool          // closing once the queue is flushed, with reason err
	done      bool          // server.Service.Closed has been called
	lingering bool          // write side shut, discarding input until EOF
	refused   bool          // never admitted: no handler calls
	upaused   bool          // reading paused by the handler (PauseRead)
	drainWait bool          // Drained is due once the queue is low
	shut      bool          // closing the descriptor once no operation is in flight
	l         *loop
	active    int64  // loop time of the last input or output progress
	in        []byte // unconsumed input, from inPool; nil when there is none

	mu          sync.Mutex
	closeReq    bool  // no more writes: Close was called or the engine is closing
	slow        bool  // Write went above MaxQueue: close as a slow consumer
	readPaused  bool  // PauseRead asked, ResumeRead not yet
	wantDrained bool  // NotifyDrained asked
	timerSet    bool  // SetTimer asked: tm.want holds the deadline
	dropOut     bool  // finished while a send was in flight: drop the queue when it completes
	head        int   // out[head:] is queued
	out         []seg // the queue
	mem         int   // bytes of out held in memory; what the limits count
	queued      int64 // bytes of out, memory and files

	// loop only, and cold
	inb       *[]byte // the pooled buffer behind in
	snd       *sendOp // the send in flight
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

// seg is one piece of queued output: bytes in a pooled chunk, or a range of
// a file.
type seg struct {
	ch  *chunk
	f   *os.File
	off int64
	n   int64
}

// chunk holds queued bytes b[r:]; writers append up to cap(b).
type chunk struct {
	b []byte
	r int
}

// Chunks come in two sizes. A connection whose queue is empty and that is
// handed a short message (a chat line, a ping) gets a small chunk: a
// broadcast to thousands of mostly idle connections then holds kilobytes,
// not a 16 KiB chunk each, until their loops have sent it. Anything
// bigger, or more output behind it, goes in large chunks.
const (
	chunkSize      = 16 << 10
	smallChunkSize = 1 << 10
)

var (
	chunks      = sync.Pool{New: func() any { return &chunk{b: make([]byte, 0, chunkSize)} }}
	smallChunks = sync.Pool{New: func() any { return &chunk{b: make([]byte, 0, smallChunkSize)} }}
)

func getChunk(small bool) *chunk {
	if small {
		return smallChunks.Get().(*chunk)
	}
	return chunks.Get().(*chunk)
}

func putChunk(ch *chunk) {
	ch.b, ch.r = ch.b[:0], 0
	if cap(ch.b) == smallChunkSize {
		smallChunks.Put(ch)
		return
	}
	chunks.Put(ch)
}

var errNegative = errors.New("uring: negative length")

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
	if c.mem+len(b) > c.l.maxQueue {
		c.closeReq = true
		c.slow = true
		c.mu.Unlock()
		c.notify()
		return server.ErrSlowConsumer
	}
	c.mem += len(b)
	c.queued += int64(len(b))
	for len(b) > 0 {
		var ch *chunk
		if k := len(c.out); k > 0 && c.out[k-1].ch != nil && len(c.out[k-1].ch.b) < cap(c.out[k-1].ch.b) {
			ch = c.out[k-1].ch
		} else {
			ch = getChunk(len(c.out) == 0 && len(b) <= smallChunkSize)
			c.out = append(c.out, seg{ch: ch})
		}
		n := copy(ch.b[len(ch.b):cap(ch.b)], b)
		ch.b = ch.b[:len(ch.b)+n]
		b = b[n:]
	}
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
	c.out = append(c.out, seg{f: f, off: off, n: n})
	c.queued += n
	c.mu.Unlock()
	c.notify()
	return nil
}

// Close closes the connection once queued output is flushed.
func (c *conn) Close() error {
	c.mu.Lock()
	if c.closeReq {
		c.mu.Unlock()
		return nil
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
	return int(c.queued)
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

// releaseOutLocked drops the queue; mu must be held. With a send in flight
// the kernel may still be reading the head of the queue, so the drop waits
// for its completion.
func (c *conn) releaseOutLocked() {
	if c.sendIn {
		c.dropOut = true
		return
	}
	for i := c.head; i < len(c.out); i++ {
		if ch := c.out[i].ch; ch != nil {
			putChunk(ch)
		}
		if f := c.out[i].f; f != nil {
			f.Close()
		}
	}
	clear(c.out)
	c.out, c.head = nil, 0
	c.mem = 0
	c.queued = 0
}

// popLocked drops the head of the queue; mu must be held. Once the queue
// is empty its array is reused from the start, so steady traffic allocates
// nothing; a large one left by a burst is dropped.
func (c *conn) popLocked() {
	c.out[c.head] = seg{}
	c.head++
	if c.head == len(c.out) {
		c.out, c.head = c.out[:0], 0
		if cap(c.out) > 8 {
			c.out = nil
		}
	}
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
