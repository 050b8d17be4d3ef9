package stream

import (
	"context"
	"errors"
	"net"
	"os"
	"time"

	"github.com/portside/portside/server"
)

// Dial connects to addr over TCP, like Silly's tcp.connect, and returns the
// connection with the same reads as a served one. Input a read waits for is
// bounded by server.DefaultMaxInput; reads beyond it fail with
// server.ErrInputTooLarge. Writes go straight to the socket.
func Dial(ctx context.Context, addr string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return NewConn(nc, server.DefaultMaxInput), nil
}

// NewConn gives nc stream reads, buffering at most maxInput unread bytes
// (0: server.DefaultMaxInput). The Conn owns nc from then on.
func NewConn(nc net.Conn, maxInput int) *Conn {
	if maxInput <= 0 {
		maxInput = server.DefaultMaxInput
	}
	c := newConn()
	c.nc, c.max = nc, maxInput
	return c
}

// readSize is the most a dialed connection asks the socket for at once.
const readSize = 4 << 10

// readNet reads once from the socket into the buffer, with c.mu held
// except during the read itself (only the reading goroutine touches the
// buffer's spare capacity).
func (c *Conn) readNet() error {
	if c.off > 0 {
		k := copy(c.buf, c.buf[c.off:])
		c.buf, c.off = c.buf[:k], 0
	}
	room := min(readSize, c.max-len(c.buf))
	if cap(c.buf)-len(c.buf) < room {
		c.buf = append(c.buf, make([]byte, room)...)[:len(c.buf)]
	}
	var deadline time.Time
	if c.timeout > 0 {
		deadline = time.Now().Add(c.timeout)
	}
	nc, buf := c.nc, c.buf
	c.mu.Unlock()
	nc.SetReadDeadline(deadline)
	n, err := nc.Read(buf[len(buf) : len(buf)+room])
	c.mu.Lock()
	c.buf = c.buf[:len(c.buf)+n]
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded) && n == 0:
		return ErrTimeout
	case errors.Is(err, os.ErrDeadlineExceeded):
	default:
		c.err = err // io.EOF included
	}
	return nil
}
