package goroutine

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portside/portside/server"
)

const (
	readSize = 16 << 10
	// lingerTime bounds the read-and-discard after our FIN: closing a
	// socket with unread input makes the kernel send RST, and an RST can
	// destroy output the peer has not read yet.
	lingerTime  = 2 * time.Second
	lingerQuiet = 500 * time.Millisecond
	// maxSpare is the largest output buffer kept for reuse between
	// flushes; bigger ones were for a burst and go back to the GC.
	maxSpare = 64 << 10
)

var aLongTimeAgo = time.Unix(1, 0)

type state int8

const (
	open     state = iota
	draining       // shutdown asked; the handler may still write
	closing        // flush what is queued, then close
)

// seg is one piece of queued output: bytes, or a range of a file.
type seg struct {
	b      []byte
	f      *os.File
	off, n int64
}

func (g seg) size() int {
	if g.f != nil {
		return int(g.n)
	}
	return len(g.b)
}

type conn struct {
	server.ConnBase
	nc  net.Conn
	raw syscall.RawConn // plain TCP only: for writes that must not block
	s   *server.Service
	h   server.Handler
	th  server.TimerHandler   // nil if h has no Timer
	dh  server.DrainedHandler // nil if h has no Drained

	// hmu is held for every handler callback, so that the reader's, the
	// timer's and Drained's never overlap; ended, under it, says Close has
	// been called and no callback may follow.
	hmu   sync.Mutex
	ended bool

	lastActive atomic.Int64 // unix nanoseconds of the last read or write progress
	drainTimer *time.Timer

	mu            sync.Mutex
	q, q2         []seg // queued output, and the batch being written
	spare         []byte
	queued        int // bytes waiting, files included: Queued, and the reading pause
	mem           int // bytes waiting in memory: what MaxQueue bounds
	st            state
	reason        error // why the connection is closing; nil for a clean close
	aborted       bool  // nc was closed without a flush
	writing       bool  // some goroutine owns writes to nc
	inHandler     bool  // the reader is inside a handler call and will flush after it
	paused        bool  // the reader waits for output to drain below the low-water mark
	readPaused    bool  // the handler paused reading
	resumed       bool  // the handler resumed reading: hand kept input again
	wantDrained   bool  // the handler asked for Drained, once queued is at most drainMark
	drainMark     int
	tgen          uint64
	timer         *time.Timer
	drainCalled   bool
	writerStarted bool
	wakeReader    chan struct{}
	wakeWriter    chan struct{}
	done          chan struct{}
}

func newConn(nc net.Conn, s *server.Service) *conn {
	if s.TLS != nil {
		nc = tls.Server(nc, s.TLS)
	}
	c := &conn{
		nc:         nc,
		s:          s,
		h:          s.Handler,
		wakeReader: make(chan struct{}, 1),
		wakeWriter: make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
	c.th, _ = s.Handler.(server.TimerHandler)
	c.dh, _ = s.Handler.(server.DrainedHandler)
	// Any plain socket: a *net.TCPConn, or one wrapped to carry an
	// address (the fork engine's inherited connection). Not TLS.
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	c.InitBase(nc.LocalAddr(), nc.RemoteAddr())
	c.touch()
	return c
}

func (c *conn) touch() { c.lastActive.Store(time.Now().UnixNano()) }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Write implements server.Conn.
func (c *conn) Write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	c.mu.Lock()
	if c.st == closing {
		c.mu.Unlock()
		return server.ErrClosed
	}
	if c.mem+len(b) > c.s.Limits.MaxQueue {
		c.mu.Unlock()
		c.abort(server.ErrSlowConsumer)
		return server.ErrSlowConsumer
	}
	if n := len(c.q); n > 0 && c.q[n-1].f == nil {
		c.q[n-1].b = append(c.q[n-1].b, b...)
	} else {
		buf := append(c.spare[:0], b...)
		c.spare = nil
		c.q = append(c.q, seg{b: buf})
	}
	c.queued += len(b)
	c.mem += len(b)
	if c.writing || c.inHandler || c.raw == nil {
		c.kickLocked()
		c.mu.Unlock()
		return nil
	}
	// Written from elsewhere (a goroutine of the handler's own, as
	// stream's function is) with nobody writing: write on the caller's
	// goroutine what the socket takes at once, as the reader does after
	// its callbacks, and hand the rest to the writer goroutine. A reply
	// that fits the socket buffer then costs one write and no wake-up of
	// another goroutine. flushNow never waits for the peer.
	c.writing = true
	c.mu.Unlock()
	c.flushNow()
	return nil
}

// WriteFile implements server.Conn.
func (c *conn) WriteFile(f *os.File, off, n int64) error {
	if n <= 0 {
		f.Close()
		return nil
	}
	c.mu.Lock()
	if c.st == closing {
		c.mu.Unlock()
		f.Close()
		return server.ErrClosed
	}
	// A file segment is not held in memory, so it does not count
	// against MaxQueue, only towards Queued.
	c.q = append(c.q, seg{f: f, off: off, n: n})
	c.queued += int(n)
	c.kickLocked()
	c.mu.Unlock()
	return nil
}

// kickLocked makes sure someone will write the queue: the reader, if it is
// inside a handler call, or the writer goroutine.
func (c *conn) kickLocked() {
	if c.writing || c.inHandler {
		return
	}
	c.writing = true
	if !c.writerStarted {
		c.writerStarted = true
		go c.writer()
	}
	signal(c.wakeWriter)
}

func (c *conn) writer() {
	for {
		select {
		case <-c.wakeWriter:
			c.flush()
			if c.s.Limits.IdleTimeout > 0 {
				// A deadline left behind would refuse the
				// reader's next write once it passed.
				c.nc.SetWriteDeadline(time.Time{})
			}
		case <-c.done:
			return
		}
	}
}

// Queued implements server.Conn.
func (c *conn) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queued
}

// Close implements server.Conn: the reader flushes and tears down.
func (c *conn) Close() error { return c.CloseWith(nil) }

// CloseWith implements server.Conn.
func (c *conn) CloseWith(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st == closing {
		return nil
	}
	c.st = closing
	if err != nil {
		c.reason = &server.HandlerError{Err: err}
	}
	c.interruptLocked()
	return nil
}

// interruptLocked wakes the reader wherever it waits: in Read, paused, or
// waiting for the handler to close.
func (c *conn) interruptLocked() {
	c.nc.SetReadDeadline(aLongTimeAgo)
	signal(c.wakeReader)
}

// abort closes the socket at once, dropping queued output, for reason.
func (c *conn) abort(reason error) {
	c.mu.Lock()
	if c.aborted {
		c.mu.Unlock()
		return
	}
	c.aborted = true
	if c.st != closing || c.reason == nil {
		c.reason = reason
	}
	c.st = closing
	signal(c.wakeReader)
	c.mu.Unlock()
	c.nc.Close()
}

// closeWith starts a graceful close for reason, unless one is under way.
func (c *conn) closeWith(reason error) {
	c.mu.Lock()
	if c.st != closing {
		c.st = closing
		c.reason = reason
	}
	c.mu.Unlock()
}

func (c *conn) startDrain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st != open {
		return
	}
	c.st = draining
	c.drainTimer = time.AfterFunc(c.s.Limits.DrainTimeout, func() { c.abort(server.ErrShutdown) })
	c.interruptLocked()
}

// enter and leave bracket a handler call on the reader goroutine; leave
// writes whatever the handler queued.
func (c *conn) enter() {
	c.mu.Lock()
	c.inHandler = true
	c.mu.Unlock()
}

func (c *conn) leave() {
	c.mu.Lock()
	c.inHandler = false
	if c.writing || len(c.q) == 0 {
		c.mu.Unlock()
		return
	}
	c.writing = true
	c.mu.Unlock()
	c.flushNow()
}

// flushNow is the reader's flush: it writes what the socket takes at once
// and hands anything left to the writer goroutine, so the reader never
// blocks on a slow peer and the common case, a reply that fits the socket
// buffer, costs one write and no deadline. The caller owns c.writing.
func (c *conn) flushNow() {
	if c.raw == nil {
		c.flush() // TLS: records must go through the tls.Conn
		return
	}
	for {
		c.mu.Lock()
		if c.aborted || len(c.q) == 0 {
			c.writing = false
			c.resumeLocked()
			if c.st == closing {
				signal(c.wakeReader) // teardown may wait for this flush
			}
			c.mu.Unlock()
			return
		}
		if c.q[0].f != nil {
			c.handOffLocked(nil)
			c.mu.Unlock()
			return
		}
		batch := c.q
		c.q = c.q2[:0]
		c.mu.Unlock()

		for i := range batch {
			g := &batch[i]
			if g.f != nil {
				c.mu.Lock()
				c.handOffLocked(batch[i:])
				c.mu.Unlock()
				return
			}
			n, err := c.tryWrite(g.b)
			c.mu.Lock()
			c.queued -= n
			c.mem -= n
			if err != nil {
				c.writing = false
				c.mu.Unlock()
				c.abort(err)
				return
			}
			if n < len(g.b) {
				g.b = g.b[n:]
				c.handOffLocked(batch[i:])
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
		}
		c.mu.Lock()
		c.recycleLocked(batch)
		c.mu.Unlock()
	}
}

// recycleLocked keeps a sent batch's slice for the next batch, and the
// largest of its buffers, if small enough, as the spare. c.mu is held.
func (c *conn) recycleLocked(batch []seg) {
	for i := range batch {
		if b := batch[i].b; cap(b) <= maxSpare && cap(b) > cap(c.spare) {
			c.spare = b[:0]
		}
		batch[i] = seg{}
	}
	c.q2 = batch[:0]
}

// handOffLocked puts rest back at the head of the queue and passes the
// right to write to the writer goroutine.
func (c *conn) handOffLocked(rest []seg) {
	if len(rest) > 0 {
		c.q = append(rest, c.q...)
		c.q2 = nil // its array is now part of c.q
	}
	if !c.writerStarted {
		c.writerStarted = true
		go c.writer()
	}
	signal(c.wakeWriter)
}

// tryWrite writes as much of b as the socket takes without waiting.
func (c *conn) tryWrite(b []byte) (int, error) {
	n := 0
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, e := unix.Write(int(fd), b[n:])
			if m > 0 {
				n += m
			}
			switch {
			case e == unix.EINTR:
				continue
			case e == unix.EAGAIN:
			case e != nil:
				werr = e
			case m > 0:
				continue
			}
			break
		}
		return true // never wait here: the writer goroutine does
	})
	if n > 0 {
		c.touch()
		c.s.Stats.BytesOut.Add(int64(n))
	}
	if err == nil {
		err = werr
	}
	return n, err
}

// flush writes the queue until it is empty. The caller owns c.writing.
func (c *conn) flush() {
	for {
		c.mu.Lock()
		if c.aborted || len(c.q) == 0 {
			c.writing = false
			c.resumeLocked()
			if c.st == closing {
				signal(c.wakeReader)
			}
			c.mu.Unlock()
			return
		}
		batch := c.q
		c.q = c.q2[:0]
		c.mu.Unlock()

		err := c.writeSegs(batch)

		c.mu.Lock()
		c.recycleLocked(batch)
		c.mu.Unlock()
		if err != nil {
			c.abort(err)
			c.mu.Lock()
			c.writing = false
			c.mu.Unlock()
			return
		}
	}
}

// resumeLocked is called when the queue shrank: it wakes a reader paused
// for backpressure, and calls Drained if it is due.
func (c *conn) resumeLocked() {
	if c.paused && c.queued <= c.s.Limits.LowWater() {
		c.paused = false
		signal(c.wakeReader)
	}
	c.drainedLocked()
}

// writeSegs writes a batch, taking each piece off the queued count as it
// goes so a paused reader resumes early. Files are closed whether or not
// they were sent.
func (c *conn) writeSegs(batch []seg) error {
	var err error
	for _, g := range batch {
		if err != nil {
			if g.f != nil {
				g.f.Close()
			}
			continue
		}
		if g.f != nil {
			_, err = c.writeFile(g)
			g.f.Close()
		} else {
			_, err = c.writeBytes(g.b)
		}
		c.mu.Lock()
		c.queued -= g.size()
		if g.f == nil {
			c.mem -= len(g.b)
		}
		c.resumeLocked()
		c.mu.Unlock()
	}
	return err
}

// writeBytes writes b, allowing each write call the idle timeout to make
// progress, so a slow but live reader is not cut off.
func (c *conn) writeBytes(b []byte) (int, error) {
	total := 0
	for len(b) > 0 {
		c.setWriteDeadline()
		n, err := c.nc.Write(b)
		total += n
		b = b[n:]
		if n > 0 {
			c.touch()
			c.s.Stats.BytesOut.Add(int64(n))
		}
		if err != nil {
			if isTimeout(err) && n > 0 {
				continue
			}
			return total, c.writeErr(err)
		}
	}
	return total, nil
}

func (c *conn) setWriteDeadline() {
	if d := c.s.Limits.IdleTimeout; d > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(d))
	}
}

func (c *conn) writeErr(err error) error {
	if isTimeout(err) {
		return server.ErrIdleTimeout
	}
	return err
}

func (c *conn) writeFile(g seg) (int, error) {
	if c.raw != nil {
		return c.sendfile(c.raw, g)
	}
	// TLS: the bytes must pass through user space anyway.
	n, err := io.Copy(writerFunc(func(p []byte) (int, error) { return c.writeBytes(p) }),
		io.NewSectionReader(g.f, g.off, g.n))
	if err == nil && n < g.n {
		err = io.ErrUnexpectedEOF
	}
	return int(n), err
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// sendfile sends a file range with sendfile(2), waiting on the netpoller
// when the socket is full. It leaves the file's own offset alone, so one
// *os.File could serve several connections.
func (c *conn) sendfile(rc syscall.RawConn, g seg) (int, error) {
	fc, err := g.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	off, left := g.off, g.n
	var werr error
	for left > 0 && werr == nil {
		c.setWriteDeadline()
		before := left
		cerr := fc.Control(func(ffd uintptr) {
			err = rc.Write(func(sfd uintptr) bool {
				for left > 0 {
					n, e := unix.Sendfile(int(sfd), int(ffd), &off, int(min(left, 1<<30)))
					if n > 0 {
						left -= int64(n)
						c.s.Stats.BytesOut.Add(int64(n))
					}
					switch {
					case e == unix.EAGAIN:
						return false
					case e == unix.EINTR:
					case e != nil:
						werr = e
						return true
					case n == 0:
						werr = io.ErrUnexpectedEOF // the file shrank
						return true
					}
				}
				return true
			})
		})
		if left < before {
			c.touch()
		}
		if cerr != nil {
			werr = cerr
		} else if err != nil {
			if !isTimeout(err) || left == before {
				werr = c.writeErr(err)
			}
		}
	}
	return int(g.n - left), werr
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
