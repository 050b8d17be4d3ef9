//go:build linux

package epoll

import (
	"context"
	"net"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portside/portside/engine/internal/sock"
	"github.com/portside/portside/server"
)

// lingerTimeout bounds how long a closed connection's socket stays open
// after shutdown(SHUT_WR), reading and discarding what the peer still sends,
// so that closing it with unread input does not send an RST that could
// destroy our last bytes before the peer has read them.
const lingerTimeout = time.Second

// Serve runs s's connections until ctx is cancelled and they are drained. It
// closes ln.
//
// The engine takes a duplicate of ln's descriptor and closes ln, so the Go
// runtime's poller and ours never compete for it. Loop 0 accepts and deals
// connections round-robin to the loops. Listeners re-opened per loop with
// SO_REUSEPORT were considered and rejected: ln is already bound without
// SO_REUSEPORT, so re-binding means closing it first and leaving the port
// free for a moment; the kernel's hash spreads a handful of connections
// unevenly; and connections waiting in a per-loop backlog are reset when
// that loop's listener closes at shutdown.
func (e *Engine) Serve(ctx context.Context, ln net.Listener, s *server.Service) error {
	s.Init()
	if s.TLS != nil {
		ln.Close()
		return server.ErrNoTLS
	}
	lfd, err := sock.ListenerFD("epoll", ln)
	laddr := ln.Addr()
	ln.Close()
	if err != nil {
		return err
	}
	n := e.opts.Loops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	r := &run{
		s:       s,
		h:       s.Handler,
		lim:     s.Limits,
		start:   time.Now(),
		failed:  make(chan error, 1),
		stopped: make(chan struct{}),
	}
	r.eofh, _ = s.Handler.(server.EOFHandler)
	r.drainer, _ = s.Handler.(server.Drainer)
	r.th, _ = s.Handler.(server.TimerHandler)
	r.dh, _ = s.Handler.(server.DrainedHandler)
	r.spawner = server.Spawns(s.Handler)
	if ta, ok := laddr.(*net.TCPAddr); ok && !ta.IP.IsUnspecified() {
		r.local = ta
	}
	for range n {
		l, err := newLoop(r)
		if err != nil {
			for _, l := range r.loops {
				l.closeFDs()
			}
			unix.Close(lfd)
			return err
		}
		r.loops = append(r.loops, l)
	}
	if err := r.loops[0].listen(lfd); err != nil {
		for _, l := range r.loops {
			l.closeFDs()
		}
		unix.Close(lfd)
		return err
	}

	var wg sync.WaitGroup
	for _, l := range r.loops {
		wg.Go(l.run)
	}
	var result error
	select {
	case <-ctx.Done():
	case result = <-r.failed:
	}
	// Accepting stops before the loops shut down, so that no connection is
	// handed to a loop that has already finished.
	r.loops[0].post(func(l *loop) { l.stopAccept = true })
	<-r.stopped
	for _, l := range r.loops {
		l.post(func(l *loop) { l.shutdown = true })
	}
	wg.Wait()
	return result
}

// run is the state of one Serve call shared by its loops.
type run struct {
	s       *server.Service
	h       server.Handler
	eofh    server.EOFHandler
	drainer server.Drainer
	th      server.TimerHandler
	dh      server.DrainedHandler
	spawner bool // the handler runs goroutines that write (server.Spawner): see Write, run
	lim     server.Limits
	local   *net.TCPAddr // the listener's address, when it is a specific one
	start   time.Time
	loops   []*loop
	next    int // round-robin position, used by loop 0 only

	failed   chan error    // a fatal accept error
	stopped  chan struct{} // closed once loop 0 has stopped accepting
	stopOnce sync.Once
}

func (r *run) fail(err error) {
	select {
	case r.failed <- err:
	default:
	}
}
