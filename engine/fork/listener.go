package fork

import (
	"net"
	"sync"
)

// oneShot is a child's listener for the service it was started for: it
// yields the inherited connection once, then nothing until closed.
type oneShot struct {
	mu     sync.Mutex
	conn   net.Conn // nil once taken or closed
	addr   net.Addr
	closed chan struct{}
	once   sync.Once
}

func newOneShot(nc net.Conn) *oneShot {
	return &oneShot{conn: nc, addr: nc.LocalAddr(), closed: make(chan struct{})}
}

// take returns the connection, or nil if it was taken or the listener closed.
func (l *oneShot) take() net.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.conn
	l.conn = nil
	return c
}

func (l *oneShot) Accept() (net.Conn, error) {
	if c := l.take(); c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneShot) Close() error {
	l.once.Do(func() { close(l.closed) })
	if c := l.take(); c != nil {
		c.Close()
	}
	return nil
}

func (l *oneShot) Addr() net.Addr { return l.addr }

// idleListener stands in, in a child, for the listeners of services the
// child does not serve: it yields nothing until closed.
type idleListener struct {
	closed chan struct{}
	once   sync.Once
}

func newIdleListener() *idleListener { return &idleListener{closed: make(chan struct{})} }

func (l *idleListener) Accept() (net.Conn, error) {
	<-l.closed
	return nil, net.ErrClosed
}

func (l *idleListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *idleListener) Addr() net.Addr { return &net.TCPAddr{} }
