//go:build linux

package uring

import (
	"bytes"
	"context"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portside/portside/server"
)

// mappings counts the process's mappings of io_uring rings and of loops'
// receive buffers (shared anonymous memory, which the maps name /dev/zero).
func mappings(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range bytes.Lines(b) {
		if bytes.Contains(line, []byte("io_uring")) || bytes.Contains(line, []byte("/dev/zero")) {
			n++
		}
	}
	return n
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestNoLeaks connects and disconnects 20,000 times, in every way a peer
// can: after an exchange or before the server has read anything, with a
// FIN or with an RST. Descriptors and goroutines must come back to where
// they were, while serving and after shutdown.
func TestNoLeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 connections; skipped with -short")
	}
	const loops = 2
	const cycles = 20_000
	fds, goroutines, maps := openFDs(t), runtime.NumGoroutine(), mappings(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	h := &echo{ch: make(chan error, cycles)}
	svc := &server.Service{Name: "leak", Handler: h, Stats: new(server.Stats)}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- New(Options{Loops: loops}).Serve(ctx, ln, svc) }()

	const workers = 8
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			b := []byte{'x'}
			sa := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port} // Connect writes to it
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
					if n, err := unix.Read(fd, b); n != 1 || err != nil {
						errs <- err
					}
				}
				// Most close with an RST, which leaves no TIME_WAIT
				// behind to exhaust the client's ports.
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

	// A connection still in the accept queue when its peer resets it is
	// never accepted, so not every cycle reaches the server; every one
	// that exchanged a byte did.
	waitFor(t, func() bool { return svc.Stats.ConnsTotal.Load() >= int64(cycles/2) })
	waitFor(t, func() bool { return svc.Stats.ConnsOpen.Load() == 0 })
	// Each loop maps its rings, its submission entries and its buffers.
	if got := mappings(t); got != maps+3*loops {
		t.Errorf("ring and buffer mappings while serving: got %d, want %d", got, maps+3*loops)
	}
	// Serving: the listener and each loop's ring and eventfd descriptors.
	want := fds + 1 + 2*loops
	deadline := time.Now().Add(10 * time.Second)
	for openFDs(t) != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := openFDs(t); got != want {
		t.Errorf("open descriptors while serving: got %d, want %d", got, want)
	}

	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if got := openFDs(t); got != fds {
		t.Errorf("open descriptors after Serve: got %d, want %d", got, fds)
	}
	if got := mappings(t); got != maps {
		t.Errorf("ring and buffer mappings after Serve: got %d, had %d", got, maps)
	}
	deadline = time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > goroutines {
		t.Errorf("goroutines after Serve: got %d, want at most %d", got, goroutines)
	}
	if got, want := len(h.ch), int(svc.Stats.ConnsTotal.Load()); got != want {
		t.Errorf("Close calls: got %d, want one per connection served, %d", got, want)
	}
}

// echo echoes and counts its connections' closes.
type echo struct{ ch chan error }

func (*echo) Open(server.Conn) {}
func (*echo) Data(c server.Conn, in []byte) (int, error) {
	return len(in), c.Write(in)
}
func (h *echo) Close(c server.Conn, err error) { h.ch <- err }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(10 * time.Millisecond) // counters, not events: poll
	}
}
