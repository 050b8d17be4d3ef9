//go:build linux

package readiness

import (
	"context"
	"net"
	"runtime"
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
// runtime's poller and the loop never compete for it. The loop runs on a
// goroutine locked to its OS thread: it blocks in select(2) or poll(2),
// which the Go scheduler cannot see into, and a thread of its own keeps it
// from being moved between threads mid-loop.
func (e *Engine) Serve(ctx context.Context, ln net.Listener, s *server.Service) error {
	s.Init()
	if s.TLS != nil {
		ln.Close()
		return server.ErrNoTLS
	}
	// The duplicate takes the lowest free number: for select it must be
	// below FDSetSize.
	lfd, err := sock.ListenerFD("readiness", ln)
	laddr := ln.Addr()
	ln.Close()
	if err != nil {
		return err
	}
	r := &run{
		s:     s,
		h:     s.Handler,
		lim:   s.Limits,
		start: time.Now(),
		kind:  e.kind,
	}
	r.eofh, _ = s.Handler.(server.EOFHandler)
	r.drainer, _ = s.Handler.(server.Drainer)
	r.th, _ = s.Handler.(server.TimerHandler)
	r.dh, _ = s.Handler.(server.DrainedHandler)
	r.spawner = server.Spawns(s.Handler)
	if ta, ok := laddr.(*net.TCPAddr); ok && !ta.IP.IsUnspecified() {
		r.local = ta
	}
	l, err := newLoop(r, lfd)
	if err != nil {
		unix.Close(lfd)
		return err
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		done <- l.run()
	}()
	select {
	case <-ctx.Done():
	case err := <-done:
		return err // the loop failed, and has closed everything
	}
	l.post(func(l *loop) { l.shutdown = true })
	return <-done
}

// run is what one Serve call serves.
type run struct {
	s       *server.Service
	h       server.Handler
	eofh    server.EOFHandler
	drainer server.Drainer
	th      server.TimerHandler
	dh      server.DrainedHandler
	spawner bool // the handler runs goroutines (server.Spawner): they run before the loop waits
	lim     server.Limits
	local   *net.TCPAddr // the listener's address, when it is a specific one
	start   time.Time
	kind    kind
}
