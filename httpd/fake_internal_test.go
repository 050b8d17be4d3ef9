package httpd

import (
	"net"
	"os"
	"sync"
	"time"

	"github.com/portside/portside/server"
)

// fakeConn is a server.Conn that records what is written, for tests that
// call the handler directly.
type fakeConn struct {
	server.ConnBase
	mu     sync.Mutex
	out    []byte
	closed bool
}

func newFakeConn() *fakeConn {
	c := &fakeConn{}
	c.InitBase(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 12345})
	return c
}

func (c *fakeConn) Write(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = append(c.out, b...)
	return nil
}

func (c *fakeConn) WriteFile(f *os.File, off, n int64) error {
	defer f.Close()
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		return err
	}
	return c.Write(buf)
}

func (c *fakeConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *fakeConn) Queued() int { return 0 }

func (c *fakeConn) WriteString(s string) error { return c.Write([]byte(s)) }
func (c *fakeConn) SetTimer(time.Duration)     {}
func (c *fakeConn) PauseRead()                 {}
func (c *fakeConn) ResumeRead()                {}
func (c *fakeConn) NotifyDrained()             {}

func (c *fakeConn) take() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := string(c.out)
	c.out = c.out[:0]
	return s
}

func (c *fakeConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}
