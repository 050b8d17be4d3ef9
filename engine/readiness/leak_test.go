//go:build linux

package readiness_test

import (
	"context"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portside/portside/engine/readiness"
	"github.com/portside/portside/server"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestNoLeaks connects and disconnects thousands of times, in every way a
// peer can: after an exchange or before the server has read anything, with
// a FIN or with an RST. Descriptors and goroutines must come back to where
// they were, while serving and after shutdown; and a descriptor the waiter
// still watched after it was closed would fail select(2) with EBADF, and
// Serve with it.
func TestNoLeaks(t *testing.T) {
	cycles := 20_000
	if testing.Short() {
		cycles = 2_000
	}
	for _, e := range []struct {
		name string
		new  func() server.Engine
	}{{"select", readiness.NewSelect}, {"poll", readiness.NewPoll}} {
		t.Run(e.name, func(t *testing.T) {
			fds, goroutines := openFDs(t), runtime.NumGoroutine()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := ln.Addr().(*net.TCPAddr).Port
			svc := &server.Service{Name: "leak", Handler: lineEcho{}, Stats: new(server.Stats)}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			served := make(chan error, 1)
			go func() { served <- e.new().Serve(ctx, ln, svc) }()

			const workers = 8
			errs := make(chan error, cycles)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					b := []byte{'x', '\n'}
					sa := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}
					for i := w; i < cycles; i += workers {
						fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
						if err != nil {
							errs <- err
							return
						}
						if err := unix.Connect(fd, sa); err != nil {
							unix.Close(fd)
							errs <- err
							return
						}
						if i%2 == 0 {
							if _, err := unix.Write(fd, b); err != nil {
								errs <- err
							}
							if n, err := unix.Read(fd, b); n != 2 || err != nil {
								errs <- err
							}
						}
						// Most close with an RST, which leaves no
						// TIME_WAIT behind to exhaust the client's ports.
						if i%4 != 3 {
							unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
						}
						unix.Close(fd)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("client: %v", err)
			}
			// A connection reset while still in the accept queue is never
			// accepted; every one that exchanged a line was.
			waitFor(t, "connections served", func() bool { return svc.Stats.ConnsTotal.Load() >= int64(cycles/2) })
			waitFor(t, "connections closed", func() bool { return svc.Stats.ConnsOpen.Load() == 0 })
			// Serving: the listener and the wake-up eventfd.
			waitFor(t, "descriptors back while serving", func() bool { return openFDs(t) == fds+2 })

			cancel()
			if err := <-served; err != nil {
				t.Fatalf("Serve: %v", err)
			}
			if got := openFDs(t); got != fds {
				t.Errorf("open descriptors after Serve: got %d, want %d", got, fds)
			}
			waitFor(t, "goroutines back after Serve", func() bool { return runtime.NumGoroutine() <= goroutines })
		})
	}
}
