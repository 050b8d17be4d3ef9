package fork

import (
	"errors"
	"net"
	"sync"
)

// errServed ends the child's accept loop: the iterative engine accepts again
// only once its connection is done, which is the child's cue to exit.
var errServed = errors.New("fork: inherited connection served")

// oneShot yields the child's inherited connection once.
type oneShot struct {
	mu     sync.Mutex
	conn   net.Conn // nil once taken
	taken  bool
	addr   net.Addr
	closed chan struct{}
	once   sync.Once
}

func (l *oneShot) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	if l.taken {
		return nil, errServed
	}
	c := l.conn
	l.conn, l.taken = nil, true
	return c, nil
}

func (l *oneShot) Close() error {
	l.once.Do(func() { close(l.closed) })
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
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
