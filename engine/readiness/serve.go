//go:build linux

package readiness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portside/portside/server"
)

// lingerTimeout bounds how long a closed connection's socket stays open
// after shutdown(SHUT_WR), reading and discarding what the peer still sends,
// so that closing it with unread input does not send an RST that could
// destroy our last bytes before the peer has read them.
const lingerTimeout = time.Second

var errNoFD = errors.New("readiness: listener has no file descriptor")

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
	lfd, err := listenerFD(ln)
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
	lim     server.Limits
	local   *net.TCPAddr // the listener's address, when it is a specific one
	start   time.Time
	kind    kind
}

// listenerFD duplicates ln's descriptor, onto the lowest free number (for
// select, it must be below FDSetSize).
func listenerFD(ln net.Listener) (int, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%w: %T", errNoFD, ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("readiness: listener: %w", err)
	}
	fd := -1
	var derr error
	err = rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return -1, fmt.Errorf("readiness: listener: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("readiness: listener: %w", err)
	}
	return fd, nil
}

// tcpAddr converts an accepted peer's address.
func tcpAddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IPv4(a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3]), Port: a.Port}
	case *unix.SockaddrInet6:
		ip := make(net.IP, net.IPv6len)
		copy(ip, a.Addr[:])
		var zone string
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			}
		}
		return &net.TCPAddr{IP: ip, Port: a.Port, Zone: zone}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return &net.TCPAddr{}
}
