package iterative

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portside/portside/server"
)

const (
	readSize  = 16 << 10 // first read buffer; it grows up to MaxInput + readSize
	writeSize = 64 << 10 // bytes per write call, so idle checks see progress
	// linger bounds the read-and-discard after our FIN: long enough for a
	// peer to read what we sent and close, short enough not to hold the
	// engine.
	linger = time.Second
)

// past is a deadline that has always passed: setting it wakes a blocked
// read or write at once.
var past = time.Unix(1, 0)

// segment is one piece of queued output: bytes, or a span of a file.
type segment struct {
	b   []byte
	f   *os.File
	off int64
	n   int64
}

// conn is one connection, served by one goroutine (the reader, which also
// makes every handler call) and one writer goroutine that drains the queue,
// so that Write never blocks.
type conn struct {
	server.ConnBase
	s   *server.Service
	lim server.Limits
	nc  net.Conn // the socket
	rw  net.Conn // nc, or its TLS wrapper

	mu       sync.Mutex
	cond     sync.Cond // signalled on every state or queue change
	segs     []segment // output not yet taken by the writer
	mem      int       // queued bytes held in memory
	files    int64     // queued bytes of files
	paused   bool      // reading stopped until the queue drops below LowWater
	closing  bool      // no more input handled, no more output accepted
	aborted  bool      // output dropped; the socket is being torn down
	flushed  bool      // the writer sent everything and shut our side
	drainReq bool      // graceful shutdown asked
	drained  bool      // the handler has been told
	reason   error     // given to Handler.Close
	eof      bool      // the peer shut its side (reader goroutine only)

	last       atomic.Int64 // unix nanos of the last input or output progress
	writerDone chan struct{}
	idle       *time.Timer
	drainTimer *time.Timer
}

func newConn(nc net.Conn, s *server.Service) *conn {
	c := &conn{s: s, lim: s.Limits, nc: nc, rw: nc, writerDone: make(chan struct{})}
	c.cond.L = &c.mu
	c.InitBase(nc.LocalAddr(), nc.RemoteAddr())
	if s.TLS != nil {
		c.rw = tls.Server(nc, s.TLS)
	}
	return c
}

// Write queues a copy of b. It never blocks.
func (c *conn) Write(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return server.ErrClosed
	}
	if len(b) == 0 {
		return nil
	}
	if c.mem+len(b) > c.lim.MaxQueue {
		c.abortLocked(server.ErrSlowConsumer)
		return server.ErrSlowConsumer
	}
	// Small writes join the last queued piece so the writer sends them in
	// one call.
	if n := len(c.segs); n > 0 && c.segs[n-1].f == nil && len(c.segs[n-1].b)+len(b) <= writeSize {
		c.segs[n-1].b = append(c.segs[n-1].b, b...)
	} else {
		c.segs = append(c.segs, segment{b: append(make([]byte, 0, max(len(b), 512)), b...)})
	}
	c.mem += len(b)
	c.cond.Broadcast()
	return nil
}

// WriteFile queues n bytes of f from off and closes f once they are sent,
// or the connection is gone. They do not count towards
// MaxQueue (they take no memory) but do count towards HighWater, so a
// large file pauses reading until most of it is sent.
func (c *conn) WriteFile(f *os.File, off, n int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		f.Close()
		return server.ErrClosed
	}
	if n <= 0 {
		f.Close()
		return nil
	}
	c.segs = append(c.segs, segment{f: f, off: off, n: n})
	c.files += n
	c.cond.Broadcast()
	return nil
}

// Close closes the connection once queued output is flushed.
func (c *conn) Close() error {
	c.closeWith(nil)
	return nil
}

// Queued reports the bytes queued but not yet sent.
func (c *conn) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mem + int(c.files)
}

// closeWith starts a graceful close: flush, shut our side, linger, close.
func (c *conn) closeWith(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason == nil && !c.flushed {
		c.reason = err
	}
	if !c.closing {
		c.closing = true
		c.cond.Broadcast()
	}
}

// abort drops queued output and wakes every blocked read and write, so the
// connection closes at once. err becomes the reason unless the connection
// already had one or had already sent everything.
func (c *conn) abort(err error) {
	c.mu.Lock()
	c.abortLocked(err)
	c.mu.Unlock()
}

func (c *conn) abortLocked(err error) {
	if c.aborted {
		return
	}
	if c.reason == nil && !c.flushed {
		c.reason = err
	}
	c.aborted, c.closing = true, true
	closeFiles(c.segs)
	c.segs, c.mem, c.files = nil, 0, 0
	c.nc.SetDeadline(past)
	c.cond.Broadcast()
}

// shutdown asks for a graceful shutdown bounded by DrainTimeout. It is safe
// to call more than once and from any goroutine.
func (c *conn) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.drainTimer != nil || c.aborted {
		return
	}
	c.drainTimer = time.AfterFunc(c.lim.DrainTimeout, func() { c.abort(server.ErrShutdown) })
	if !c.closing {
		c.drainReq = true
		c.nc.SetReadDeadline(past) // wake the reader so it can tell the handler
	}
	c.cond.Broadcast()
}

// progress records sent bytes.
func (c *conn) progress(n int, file bool) {
	if n <= 0 {
		return
	}
	c.last.Store(time.Now().UnixNano())
	c.s.Stats.BytesOut.Add(int64(n))
	c.mu.Lock()
	if !c.aborted {
		if file {
			c.files -= int64(n)
		} else {
			c.mem -= n
		}
	}
	c.cond.Broadcast()
	c.mu.Unlock()
}

func (c *conn) checkIdle() {
	idle := time.Since(time.Unix(0, c.last.Load()))
	if idle >= c.lim.IdleTimeout {
		c.abort(server.ErrIdleTimeout)
		return
	}
	c.mu.Lock()
	c.idle.Reset(c.lim.IdleTimeout - idle)
	c.mu.Unlock()
}

// serve runs the connection to its end on the calling goroutine and reports
// it closed to the service.
func (c *conn) serve() {
	c.last.Store(time.Now().UnixNano())
	go c.writeLoop()
	if c.lim.IdleTimeout > 0 {
		c.mu.Lock()
		c.idle = time.AfterFunc(c.lim.IdleTimeout, c.checkIdle)
		c.mu.Unlock()
	}
	c.s.Handler.Open(c)
	c.readLoop()
	c.discard()
	<-c.writerDone
	c.nc.Close()
	c.mu.Lock()
	if c.idle != nil {
		c.idle.Stop()
	}
	if c.drainTimer != nil {
		c.drainTimer.Stop()
	}
	err := c.reason
	c.mu.Unlock()
	c.s.Closed(c, err)
}

// readLoop reads and hands input to the handler until the connection is
// closing. It stops reading while too much output is queued.
func (c *conn) readLoop() {
	buf := make([]byte, readSize)
	n := 0 // unconsumed input at the front of buf
	for {
		c.mu.Lock()
		for {
			if c.closing {
				c.mu.Unlock()
				return
			}
			if c.drainReq && !c.drained {
				c.mu.Unlock()
				c.drain()
				c.waitClosing()
				return
			}
			q := c.mem + int(c.files)
			if c.paused && q > c.lim.LowWater() || !c.paused && q > c.lim.HighWater {
				c.paused = true
				c.cond.Wait()
				continue
			}
			c.paused = false
			break
		}
		c.mu.Unlock()

		if n == len(buf) {
			nb := make([]byte, min(2*len(buf), c.lim.MaxInput+readSize))
			copy(nb, buf[:n])
			buf = nb
		}
		m, err := c.rw.Read(buf[n:])
		if m > 0 {
			c.last.Store(time.Now().UnixNano())
			c.s.Stats.BytesIn.Add(int64(m))
			n += m
			if c.isClosing() {
				return
			}
			k, herr := c.s.Handler.Data(c, buf[:n])
			if herr == nil && (k < 0 || k > n) {
				herr = fmt.Errorf("iterative: handler consumed %d of %d bytes", k, n)
			}
			if herr != nil {
				c.closeWith(&server.HandlerError{Err: herr})
				return
			}
			n = copy(buf, buf[k:n])
			if n > c.lim.MaxInput {
				c.closeWith(server.ErrInputTooLarge)
				return
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			c.eof = true
			if eh, ok := c.s.Handler.(server.EOFHandler); ok && !c.isClosing() {
				eh.ReadEOF(c, buf[:n])
				c.waitClosing()
				return
			}
			c.closeWith(nil)
			return
		case errors.Is(err, os.ErrDeadlineExceeded) && c.woken():
			// shutdown or abort woke us; the loop top decides.
		default:
			c.abort(fmt.Errorf("read: %w", err))
			return
		}
	}
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// woken reports whether a read deadline was ours, not the peer's doing.
func (c *conn) woken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing || c.drainReq
}

// drain tells the handler the service is shutting down, once.
func (c *conn) drain() {
	c.mu.Lock()
	c.drained = true
	c.mu.Unlock()
	if d, ok := c.s.Handler.(server.Drainer); ok {
		d.Drain(c)
		return
	}
	c.closeWith(nil)
}

// waitClosing waits, no longer reading, until the handler or a timer closes
// the connection, telling the handler of a shutdown meanwhile.
func (c *conn) waitClosing() {
	c.mu.Lock()
	for !c.closing {
		if c.drainReq && !c.drained {
			c.mu.Unlock()
			c.drain()
			c.mu.Lock()
			continue
		}
		c.cond.Wait()
	}
	c.mu.Unlock()
}

// discard reads and drops input while the writer flushes and for a moment
// after our FIN, so that closing with unread input does not reset the
// connection and destroy output the peer has not read yet.
func (c *conn) discard() {
	if c.eof {
		return
	}
	c.mu.Lock()
	if c.aborted {
		c.mu.Unlock()
		return
	}
	if !c.flushed {
		c.nc.SetReadDeadline(time.Time{}) // undo a shutdown wake-up
	}
	c.mu.Unlock()
	// Through TLS, not around it: a handshake may still be under way for
	// the writer's sake.
	var buf [4096]byte
	for {
		if _, err := c.rw.Read(buf[:]); err != nil {
			return
		}
	}
}

// writeLoop sends queued output until the connection closes; then it shuts
// our side of the connection and starts the linger.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	for {
		c.mu.Lock()
		for len(c.segs) == 0 && !c.closing {
			c.cond.Wait()
		}
		if c.aborted {
			c.mu.Unlock()
			return
		}
		if len(c.segs) == 0 {
			c.mu.Unlock()
			c.finish()
			return
		}
		segs := c.segs
		c.segs = nil
		c.mu.Unlock()
		for i, sg := range segs {
			var err error
			if sg.f != nil {
				err = c.sendFile(sg)
				sg.f.Close()
			} else {
				err = c.send(sg.b)
			}
			if err != nil {
				closeFiles(segs[i+1:])
				c.abort(fmt.Errorf("write: %w", err))
				return
			}
		}
	}
}

// closeFiles closes the files of output that will not be sent.
func closeFiles(segs []segment) {
	for _, sg := range segs {
		if sg.f != nil {
			sg.f.Close()
		}
	}
}

func (c *conn) send(b []byte) error {
	for len(b) > 0 {
		chunk := b[:min(len(b), writeSize)]
		n, err := c.rw.Write(chunk)
		c.progress(n, false)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// sendFile sends a file span with sendfile(2) on a plain TCP socket, and by
// copying through the TLS layer otherwise.
func (c *conn) sendFile(sg segment) error {
	dst, ok := c.rw.(syscall.Conn)
	if !ok {
		return c.copyFile(sg)
	}
	drc, err := dst.SyscallConn()
	if err != nil {
		return c.copyFile(sg)
	}
	src, err := sg.f.SyscallConn()
	if err != nil {
		return c.copyFile(sg)
	}
	off, remain := sg.off, sg.n
	var serr error
	err = src.Control(func(sfd uintptr) {
		err := drc.Write(func(dfd uintptr) bool {
			for remain > 0 {
				m, e := syscall.Sendfile(int(dfd), int(sfd), &off, int(min(remain, writeSize)))
				if m > 0 {
					remain -= int64(m)
					c.progress(m, true)
				}
				switch {
				case e == syscall.EAGAIN:
					return false
				case e == syscall.EINTR:
				case e != nil:
					serr = e
					return true
				case m == 0:
					serr = io.ErrUnexpectedEOF
					return true
				}
			}
			return true
		})
		if serr == nil {
			serr = err
		}
	})
	if serr == nil {
		serr = err
	}
	return serr
}

func (c *conn) copyFile(sg segment) error {
	r := io.NewSectionReader(sg.f, sg.off, sg.n)
	buf := make([]byte, writeSize)
	for remain := sg.n; remain > 0; {
		m, err := r.Read(buf[:min(remain, writeSize)])
		if m > 0 {
			w, werr := c.rw.Write(buf[:m])
			c.progress(w, true)
			if werr != nil {
				return werr
			}
			remain -= int64(m)
		}
		if err == io.EOF && remain > 0 {
			return io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

// finish shuts our side of a fully flushed connection and bounds the
// reader's linger.
func (c *conn) finish() {
	if tc, ok := c.rw.(*tls.Conn); ok {
		tc.CloseWrite() // close_notify; fails harmlessly before a handshake
	}
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.mu.Lock()
	c.flushed = true
	if !c.aborted {
		c.nc.SetReadDeadline(time.Now().Add(linger))
	}
	c.cond.Broadcast()
	c.mu.Unlock()
}
