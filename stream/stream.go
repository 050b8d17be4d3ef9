// Package stream is portside's sequential style: a function per connection,
// run on its own goroutine, that reads lines or byte counts and writes
// answers as if the connection were a file — the model of the Silly
// framework's coroutine echo server. It runs under every engine, because
// Handler turns the function into an ordinary server.Handler.
//
// The function owns a *Conn:
//
//	stream.Handler(func(c *stream.Conn) {
//		for {
//			line, err := c.ReadUntil('\n')
//			if err != nil {
//				return // io.EOF: the peer is done; the connection closes when the function returns
//			}
//			c.Write(line)
//		}
//	})
//
// Reads wait for what they ask for; a handler goroutine waiting for input
// costs its stack and no more. Input the function has not asked for yet is
// kept, up to the service's Limits.MaxInput; beyond that the engine stops
// reading the connection until the function reads (server.Conn.PauseRead),
// so a peer that sends faster than the function reads is held back by TCP
// flow control instead of growing memory. A line or a byte count longer
// than MaxInput is an error, server.ErrInputTooLarge (a line's closes the
// connection). Idle timeouts, connection limits and graceful
// shutdown stay the engine's: when the engine closes a connection, reads
// return the reason.
//
// Dial gives a client the same reads over a net.Conn.
package stream

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/portside/portside/server"
)

// ErrTimeout is returned by a read that waited longer than the read timeout
// (SetReadTimeout). Nothing is lost: the connection stays usable and the
// input that came meanwhile is read by the next read.
var ErrTimeout = errors.New("stream: read timed out")

// Conn is one connection seen as a stream. Its reads are meant for one
// goroutine at a time (the connection's function); Write, WriteString and
// Close may be called from any goroutine.
type Conn struct {
	mu   sync.Mutex
	cond sync.Cond // signalled when input, an error, a timeout or a drain comes

	// Unread input is buf[off:]; scan bytes of it are known not to hold
	// the delimiter the current ReadUntil looks for.
	buf       []byte
	off, scan int
	// max bounds input a read waits for: the service's Limits.MaxInput,
	// or the dialed connection's limit.
	max int
	// err is why no more input will come: io.EOF once the peer is done,
	// else the close reason. Buffered input is still read first.
	err error

	timeout time.Duration // per read; 0: none
	window  int           // served: queued output above which Write waits
	low     int           // served: and the level at which it goes on

	sc server.Conn // served connection, or nil
	nc net.Conn    // dialed connection, or nil

	// Served connections only: what the waiting read asks of the engine's
	// input (Data looks), and the pause, timer and drain bookkeeping.
	want     want
	scanIn   int // bytes of the engine's input known not to satisfy want
	paused   bool
	deadline time.Time // of the waiting read, if it has one
	armed    time.Time // the connection timer's deadline; zero: not armed
	timedOut bool
	draining bool // a Write waits for the queue to drain
	panicked any
	overflow bool // a read outgrew the limit: fail any Data still to come
}

type wantKind uint8

const (
	wantNone  wantKind = iota // the function is busy: pause reading
	wantDelim                 // input holding delim
	wantN                     // at least n more bytes
	wantAny                   // any input
)

type want struct {
	kind  wantKind
	delim byte
	n     int
}

func newConn() *Conn {
	c := new(Conn)
	c.cond.L = &c.mu
	return c
}

// SetReadTimeout bounds how long each later read may wait for input; 0
// (the default) means no bound. A read that times out returns ErrTimeout and
// leaves the connection usable.
func (c *Conn) SetReadTimeout(d time.Duration) {
	c.mu.Lock()
	c.timeout = max(d, 0)
	c.mu.Unlock()
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr {
	if c.nc != nil {
		return c.nc.RemoteAddr()
	}
	return c.sc.RemoteAddr()
}

// LocalAddr is this end's address.
func (c *Conn) LocalAddr() net.Addr {
	if c.nc != nil {
		return c.nc.LocalAddr()
	}
	return c.sc.LocalAddr()
}

// ReadLine returns the next line without its ending (LF, or CRLF). A last
// line the peer ended without a line ending is returned as a line, and the
// next read returns io.EOF. A line longer than the input limit is an error,
// server.ErrInputTooLarge, that ends the connection.
func (c *Conn) ReadLine() ([]byte, error) {
	b, err := c.ReadUntil('\n')
	if err == io.EOF && len(b) > 0 {
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b, nil
}

// ReadUntil returns the input up to and including the next delim. As with
// bufio.Reader.ReadBytes, it returns an error if and only if the bytes it
// returns do not end in delim: at the end of input, what is left, with
// io.EOF.
func (c *Conn) ReadUntil(delim byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		u := c.buf[c.off:]
		if i := bytes.IndexByte(u[c.scan:], delim); i >= 0 {
			if c.scan+i+1 > c.max { // it all came in one read
				return nil, c.overflowed()
			}
			return c.take(c.scan + i + 1), nil
		}
		c.scan = len(u)
		if c.err != nil {
			if c.err == io.EOF && len(u) > 0 {
				return c.take(len(u)), io.EOF
			}
			return nil, c.err
		}
		if len(u) >= c.max {
			return nil, c.overflowed()
		}
		if err := c.fill(want{kind: wantDelim, delim: delim}); err != nil {
			return nil, err
		}
	}
}

// ReadN returns the next n bytes. At the end of input it returns what is
// left with io.ErrUnexpectedEOF, or io.EOF if nothing is. An n beyond the
// input limit (Limits.MaxInput, or the dialed connection's) can never be
// read: ReadN returns server.ErrInputTooLarge at once, allocating nothing,
// and the connection stays as it was.
func (c *Conn) ReadN(n int) ([]byte, error) {
	if n < 0 {
		return nil, errors.New("stream: negative read")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > c.max {
		return nil, server.ErrInputTooLarge
	}
	for {
		u := c.buf[c.off:]
		if len(u) >= n {
			return c.take(n), nil
		}
		if c.err != nil {
			switch {
			case c.err != io.EOF:
				return nil, c.err
			case len(u) > 0:
				return c.take(len(u)), io.ErrUnexpectedEOF
			}
			return nil, io.EOF
		}
		if err := c.fill(want{kind: wantN, n: n - len(u)}); err != nil {
			return nil, err
		}
	}
}

// ReadAvailable waits for at least one byte and returns all input there is,
// like Silly's read(conn:unreadbytes()).
func (c *Conn) ReadAvailable() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if u := c.buf[c.off:]; len(u) > 0 {
			return c.take(len(u)), nil
		}
		if c.err != nil {
			return nil, c.err
		}
		if err := c.fill(want{kind: wantAny}); err != nil {
			return nil, err
		}
	}
}

// take returns a copy of the next n unread bytes and consumes them. The
// buffer is kept for the next input unless a burst made it large, so that
// an idle connection holds little.
func (c *Conn) take(n int) []byte {
	b := bytes.Clone(c.buf[c.off : c.off+n])
	if b == nil {
		b = []byte{}
	}
	c.off += n
	c.scan = 0
	if c.off == len(c.buf) {
		c.buf, c.off = c.buf[:0], 0
		if cap(c.buf) > keepBuf {
			c.buf = nil
		}
	}
	return b
}

// keepBuf is the largest input buffer an idle connection keeps.
const keepBuf = 4 << 10

// appendInput adds b to the unread input, moving what is unread to the
// front first.
func (c *Conn) appendInput(b []byte) {
	if c.off > 0 {
		k := copy(c.buf, c.buf[c.off:])
		c.buf, c.off = c.buf[:k], 0
	}
	c.buf = append(c.buf, b...)
}

// fill waits, with c.mu held, for more input, an error (then in c.err) or
// the read timeout.
func (c *Conn) fill(w want) error {
	if c.nc != nil {
		return c.readNet()
	}
	return c.awaitData(w)
}

// Write sends b. On a served connection it queues a copy and returns at
// once, unless output above the service's Limits.HighWater (or half its
// MaxQueue, if lower) is already waiting for the peer: then it waits until
// the queue is down to the low-water mark, so a function that writes in a loop
// to a slow reader is slowed to its pace instead of being cut off as a slow
// consumer. It returns server.ErrClosed once the connection is closing. On a
// dialed connection it writes through, as net.Conn.Write.
func (c *Conn) Write(b []byte) error {
	if c.nc != nil {
		_, err := c.nc.Write(b)
		return err
	}
	if err := c.sc.Write(b); err != nil {
		return err
	}
	return c.paceWrites()
}

// WriteString is Write for a string.
func (c *Conn) WriteString(s string) error {
	if c.nc != nil {
		_, err := io.WriteString(c.nc, s)
		return err
	}
	if err := c.sc.WriteString(s); err != nil {
		return err
	}
	return c.paceWrites()
}

// Close closes the connection, once queued output is sent. Reads then
// return server.ErrClosed (net.ErrClosed on a dialed connection). The
// connection also closes when its function returns.
func (c *Conn) Close() error {
	if c.nc != nil {
		return c.nc.Close()
	}
	c.mu.Lock()
	if c.err == nil || c.err == io.EOF {
		c.err = server.ErrClosed
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	return c.sc.Close()
}
