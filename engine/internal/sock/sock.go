//go:build linux

// Package sock holds the socket plumbing the loop engines (epoll, select
// and poll, uring) share: taking a listener's descriptor from the Go
// runtime, and converting the kernel's addresses.
package sock

import (
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// ListenerFD duplicates ln's descriptor, non-blocking, so that the Go
// runtime's poller and the engine never compete for it. engine names the
// engine in errors.
func ListenerFD(engine string, ln net.Listener) (int, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%s: listener has no file descriptor: %T", engine, ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("%s: listener: %w", engine, err)
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
		return -1, fmt.Errorf("%s: listener: %w", engine, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("%s: listener: %w", engine, err)
	}
	return fd, nil
}

// TCPAddr converts an accepted peer's (or a socket's own) address.
func TCPAddr(sa unix.Sockaddr) net.Addr {
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
