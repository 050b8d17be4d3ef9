//go:build linux

package epoll_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portside/portside/engine/epoll"
	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/server"
)

// closes records Handler.Close calls.
type closes struct {
	ch chan error
}

func newCloses() closes { return closes{ch: make(chan error, 1024)} }

func (r closes) Close(c server.Conn, err error) { r.ch <- err }

// next waits for the next Close.
func (r closes) next(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no Close within 10s")
		return nil
	}
}

type echo struct {
	closes
	maxQueued atomic.Int64
}

func (*echo) Open(server.Conn) {}
func (h *echo) Data(c server.Conn, in []byte) (int, error) {
	if err := c.Write(in); err != nil {
		return 0, err
	}
	if q := int64(c.Queued()); q > h.maxQueued.Load() {
		h.maxQueued.Store(q)
	}
	return len(in), nil
}

// lines echoes whole lines and leaves a partial one unconsumed; "bad" is a
// protocol error.
type lines struct{ closes }

func (lines) Open(server.Conn) {}
func (lines) Data(c server.Conn, in []byte) (int, error) {
	i := bytes.LastIndexByte(in, '\n')
	if i < 0 {
		return 0, nil
	}
	for _, l := range bytes.SplitAfter(in[:i+1], []byte("\n")) {
		if string(l) == "bad\n" {
			c.Write([]byte("error\n"))
			return 0, errBad
		}
	}
	c.Write(in[:i+1])
	return i + 1, nil
}

var errBad = errors.New("test: bad line")

type running struct {
	addr string
	svc  *server.Service
	stop func() error // cancels and waits for Serve's result
}

func start(t *testing.T, loops int, h server.Handler, lim server.Limits) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := &server.Service{Name: "test", Handler: h, Limits: lim, Stats: new(server.Stats)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- epoll.New(epoll.Options{Loops: loops}).Serve(ctx, ln, svc) }()
	var once sync.Once
	var result error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(20 * time.Second):
				result = errors.New("Serve did not return within 20s")
			}
		})
		return result
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &running{addr: ln.Addr().String(), svc: svc, stop: stop}
}

func dial(t *testing.T, addr string) *net.TCPConn { return testkit.DialTCP(t, addr, 15*time.Second) }

func readN(t *testing.T, c net.Conn, n int) string { return testkit.ReadN(t, c, n) }

func expectEOF(t *testing.T, c net.Conn) {
	t.Helper()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read to EOF: %v (got %q)", err, b)
	}
	if len(b) != 0 {
		t.Fatalf("got %q before EOF, want nothing", b)
	}
}

// waitFor polls external state until cond holds, for at most 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestEcho(t *testing.T) {
	for _, tc := range []struct{ loops, conns, msgs int }{
		{1, 1, 100},
		{2, 10, 50},
		{4, 20, 20},
	} {
		t.Run(fmt.Sprintf("loops=%d/conns=%d", tc.loops, tc.conns), func(t *testing.T) {
			h := &echo{closes: newCloses()}
			r := start(t, tc.loops, h, server.Limits{})
			var wg sync.WaitGroup
			errs := make(chan error, tc.conns)
			for i := range tc.conns {
				c := dial(t, r.addr)
				wg.Go(func() {
					buf := make([]byte, 64)
					for j := range tc.msgs {
						msg := fmt.Sprintf("conn %d message %d\n", i, j)
						if _, err := c.Write([]byte(msg)); err != nil {
							errs <- err
							return
						}
						if _, err := io.ReadFull(c, buf[:len(msg)]); err != nil {
							errs <- err
							return
						}
						if got := string(buf[:len(msg)]); got != msg {
							errs <- fmt.Errorf("got %q, want %q", got, msg)
							return
						}
					}
					c.Close()
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			for range tc.conns {
				if err := h.next(t); err != nil {
					t.Errorf("Close: got %v, want nil", err)
				}
			}
			if got := r.svc.Stats.ConnsTotal.Load(); got != int64(tc.conns) {
				t.Errorf("ConnsTotal: got %d, want %d", got, tc.conns)
			}
		})
	}
}

func TestPartialInput(t *testing.T) {
	h := lines{newCloses()}
	r := start(t, 1, h, server.Limits{})
	c := dial(t, r.addr)
	sent := 0
	for _, part := range []string{"hel", "lo\nwor", "ld\n"} {
		if _, err := c.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
		// Each part is read on its own before the next is sent.
		sent += len(part)
		waitFor(t, func() bool { return r.svc.Stats.BytesIn.Load() == int64(sent) })
	}
	if got, want := readN(t, c, 12), "hello\nworld\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestInputTooLarge(t *testing.T) {
	h := lines{newCloses()}
	r := start(t, 1, h, server.Limits{MaxInput: 100})
	c := dial(t, r.addr)
	if _, err := c.Write([]byte("ok\n" + strings.Repeat("x", 200))); err != nil {
		t.Fatal(err)
	}
	if got, want := readN(t, c, 3), "ok\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	expectEOF(t, c)
	if err := h.next(t); !errors.Is(err, server.ErrInputTooLarge) {
		t.Errorf("Close: got %v, want %v", err, server.ErrInputTooLarge)
	}
}

func TestHandlerError(t *testing.T) {
	h := lines{newCloses()}
	r := start(t, 1, h, server.Limits{})
	c := dial(t, r.addr)
	c.Write([]byte("bad\n"))
	if got, want := readN(t, c, 6), "error\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	expectEOF(t, c)
	err := h.next(t)
	var he *server.HandlerError
	if !errors.As(err, &he) || !errors.Is(err, errBad) {
		t.Errorf("Close: got %v, want a HandlerError wrapping %v", err, errBad)
	}
	if got := r.svc.Stats.HandlerErrors.Load(); got != 1 {
		t.Errorf("HandlerErrors: got %d, want 1", got)
	}
}

// ticker writes from its own goroutine, then closes.
type ticker struct {
	closes
	n int
}

func (h ticker) Open(c server.Conn) {
	go func() {
		for i := range h.n {
			if err := c.Write(fmt.Appendf(nil, "tick %04d\n", i)); err != nil {
				panic(err)
			}
		}
		c.Close()
		if err := c.Write([]byte("late")); !errors.Is(err, server.ErrClosed) {
			panic(fmt.Sprintf("Write after Close: got %v, want %v", err, server.ErrClosed))
		}
	}()
}
func (ticker) Data(c server.Conn, in []byte) (int, error) { return len(in), nil }

func TestCrossGoroutineWrite(t *testing.T) {
	h := ticker{newCloses(), 2000}
	r := start(t, 2, h, server.Limits{})
	for range 4 {
		c := dial(t, r.addr)
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		for i := range h.n {
			fmt.Fprintf(&want, "tick %04d\n", i)
		}
		if !bytes.Equal(b, want.Bytes()) {
			t.Fatalf("got %d bytes, want %d in order", len(b), want.Len())
		}
		if err := h.next(t); err != nil {
			t.Errorf("Close: got %v, want nil", err)
		}
	}
}

func TestBackpressure(t *testing.T) {
	h := &echo{closes: newCloses()}
	lim := server.Limits{HighWater: 64 << 10, MaxQueue: 1 << 20}
	r := start(t, 1, h, lim)
	c := dial(t, r.addr)
	c.SetReadBuffer(64 << 10)
	const total = 32 << 20
	stalled := make(chan struct{})
	werr := make(chan error, 1)
	go func() {
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
		once := sync.Once{}
		for sent := 0; sent < total; {
			c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			n, err := c.Write(chunk)
			sent += n
			if errors.Is(err, os.ErrDeadlineExceeded) {
				once.Do(func() { close(stalled) })
				continue
			}
			if err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	// The client does not read until the server has stopped reading it.
	select {
	case <-stalled:
	case err := <-werr:
		t.Fatalf("writer finished without stalling: %v", err)
	}
	got := 0
	buf := make([]byte, 256<<10)
	for got < total {
		n, err := c.Read(buf)
		got += n
		if err != nil {
			t.Fatalf("read after %d of %d bytes: %v", got, total, err)
		}
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if got, max := h.maxQueued.Load(), int64(lim.HighWater+64<<10); got > max {
		t.Errorf("queue peaked at %d bytes, want at most %d", got, max)
	}
	if got := r.svc.Stats.SlowConsumers.Load(); got != 0 {
		t.Errorf("SlowConsumers: got %d, want 0", got)
	}
}

// flood queues more than MaxQueue in Open.
type flood struct {
	closes
	err chan error
}

func (h flood) Open(c server.Conn) {
	b := make([]byte, 600<<10)
	c.Write(b)
	h.err <- c.Write(b)
}
func (flood) Data(c server.Conn, in []byte) (int, error) { return len(in), nil }

func TestSlowConsumer(t *testing.T) {
	h := flood{newCloses(), make(chan error, 1)}
	r := start(t, 1, h, server.Limits{MaxQueue: 1 << 20})
	dial(t, r.addr)
	if err := <-h.err; !errors.Is(err, server.ErrSlowConsumer) {
		t.Errorf("Write: got %v, want %v", err, server.ErrSlowConsumer)
	}
	if err := h.next(t); !errors.Is(err, server.ErrSlowConsumer) {
		t.Errorf("Close: got %v, want %v", err, server.ErrSlowConsumer)
	}
	if got := r.svc.Stats.SlowConsumers.Load(); got != 1 {
		t.Errorf("SlowConsumers: got %d, want 1", got)
	}
}

func TestIdleTimeout(t *testing.T) {
	h := &echo{closes: newCloses()}
	r := start(t, 1, h, server.Limits{IdleTimeout: 150 * time.Millisecond})
	busy := dial(t, r.addr)
	began := time.Now()
	idle := dial(t, r.addr)
	closedAfter := make(chan time.Duration, 1)
	go func() {
		io.Copy(io.Discard, idle)
		closedAfter <- time.Since(began)
	}()
	// The busy connection talks every 30ms for longer than the timeout.
	tick := time.NewTicker(30 * time.Millisecond)
	defer tick.Stop()
	for range 15 {
		busy.Write([]byte("x"))
		readN(t, busy, 1)
		<-tick.C
	}
	if d := <-closedAfter; d < 150*time.Millisecond || d > 5*time.Second {
		t.Errorf("idle connection closed after %v, want about 150ms", d)
	}
	if err := h.next(t); !errors.Is(err, server.ErrIdleTimeout) {
		t.Errorf("Close: got %v, want %v", err, server.ErrIdleTimeout)
	}
	busy.Write([]byte("y"))
	if got := readN(t, busy, 1); got != "y" {
		t.Errorf("busy connection: got %q, want %q", got, "y")
	}
}

// halfer answers after the peer's EOF.
type halfer struct {
	closes
	got []byte
}

func (*halfer) Open(server.Conn) {}
func (h *halfer) Data(c server.Conn, in []byte) (int, error) {
	h.got = append(h.got, in[:len(in)-1]...)
	return len(in) - 1, nil // keep the last byte, to see it in ReadEOF
}
func (h *halfer) ReadEOF(c server.Conn, rest []byte) {
	h.got = append(h.got, rest...)
	fmt.Fprintf(connWriter{c}, "got %d bytes", len(h.got))
	c.Close()
}

type connWriter struct{ c server.Conn }

func (w connWriter) Write(b []byte) (int, error) { return len(b), w.c.Write(b) }

func TestHalfClose(t *testing.T) {
	t.Run("EOFHandler", func(t *testing.T) {
		h := &halfer{closes: newCloses()}
		r := start(t, 1, h, server.Limits{})
		c := dial(t, r.addr)
		c.Write([]byte("hello, world"))
		c.CloseWrite()
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(b), "got 12 bytes"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
		if err := h.next(t); err != nil {
			t.Errorf("Close: got %v, want nil", err)
		}
	})
	t.Run("plain", func(t *testing.T) {
		h := &echo{closes: newCloses()}
		r := start(t, 1, h, server.Limits{})
		c := dial(t, r.addr)
		c.Write([]byte("hello, world"))
		c.CloseWrite()
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(b), "hello, world"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
		if err := h.next(t); err != nil {
			t.Errorf("Close: got %v, want nil", err)
		}
	})
}

// drainer says goodbye on shutdown, or never closes if stubborn.
type drainer struct {
	closes
	opened   chan struct{}
	stubborn bool
}

func (h drainer) Open(server.Conn)                         { h.opened <- struct{}{} }
func (drainer) Data(c server.Conn, in []byte) (int, error) { return len(in), nil }
func (h drainer) Drain(c server.Conn) {
	c.Write([]byte("bye\n"))
	if !h.stubborn {
		c.Close()
	}
}

func TestShutdown(t *testing.T) {
	t.Run("Drainer", func(t *testing.T) {
		h := drainer{closes: newCloses(), opened: make(chan struct{}, 8)}
		r := start(t, 2, h, server.Limits{})
		cs := []*net.TCPConn{dial(t, r.addr), dial(t, r.addr)}
		<-h.opened
		<-h.opened
		if err := r.stop(); err != nil {
			t.Fatalf("Serve: got %v, want nil", err)
		}
		for _, c := range cs {
			b, err := io.ReadAll(c)
			if err != nil || string(b) != "bye\n" {
				t.Errorf("got %q, %v; want %q, nil", b, err, "bye\n")
			}
			if err := h.next(t); err != nil {
				t.Errorf("Close: got %v, want nil", err)
			}
		}
		if _, err := net.DialTimeout("tcp", r.addr, time.Second); err == nil {
			t.Error("dial after shutdown succeeded, want refused")
		}
	})
	t.Run("flush", func(t *testing.T) {
		h := &echo{closes: newCloses()}
		r := start(t, 1, h, server.Limits{})
		c := dial(t, r.addr)
		c.Write([]byte("ping"))
		readN(t, c, 4)
		if err := r.stop(); err != nil {
			t.Fatalf("Serve: got %v, want nil", err)
		}
		expectEOF(t, c)
		if err := h.next(t); err != nil {
			t.Errorf("Close: got %v, want nil", err)
		}
	})
	t.Run("DrainTimeout", func(t *testing.T) {
		h := drainer{closes: newCloses(), opened: make(chan struct{}, 8), stubborn: true}
		r := start(t, 1, h, server.Limits{DrainTimeout: 100 * time.Millisecond})
		c := dial(t, r.addr)
		<-h.opened
		began := time.Now()
		if err := r.stop(); err != nil {
			t.Fatalf("Serve: got %v, want nil", err)
		}
		if d := time.Since(began); d > 5*time.Second {
			t.Errorf("Serve took %v to return, want about 100ms", d)
		}
		if err := h.next(t); !errors.Is(err, server.ErrShutdown) {
			t.Errorf("Close: got %v, want %v", err, server.ErrShutdown)
		}
		b, _ := io.ReadAll(c)
		if string(b) != "bye\n" {
			t.Errorf("got %q, want %q", b, "bye\n")
		}
	})
}

// refuser turns peers away with a reason.
type refuser struct {
	echo
	opened chan struct{}
}

func (h *refuser) Open(server.Conn)         { h.opened <- struct{}{} }
func (*refuser) Refuse(reason error) []byte { return []byte("refused: " + reason.Error() + "\n") }

func TestMaxConns(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lim    server.Limits
		reason error
	}{
		{"MaxConns", server.Limits{MaxConns: 1}, server.ErrServerFull},
		{"MaxConnsPerIP", server.Limits{MaxConnsPerIP: 1}, server.ErrTooManyFromIP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &refuser{echo: echo{closes: newCloses()}, opened: make(chan struct{}, 4)}
			r := start(t, 2, h, tc.lim)
			first := dial(t, r.addr)
			<-h.opened
			second := dial(t, r.addr)
			b, err := io.ReadAll(second)
			if want := "refused: " + tc.reason.Error() + "\n"; err != nil || string(b) != want {
				t.Errorf("refused peer read %q, %v; want %q, nil", b, err, want)
			}
			if got := r.svc.Stats.ConnsRefused.Load(); got != 1 {
				t.Errorf("ConnsRefused: got %d, want 1", got)
			}
			first.Write([]byte("still here"))
			if got := readN(t, first, 10); got != "still here" {
				t.Errorf("first: got %q, want %q", got, "still here")
			}
			first.Close()
			h.next(t)
			third := dial(t, r.addr)
			<-h.opened
			third.Write([]byte("x"))
			readN(t, third, 1)
		})
	}
}

// sender sends part of a file on Open.
type sender struct {
	closes
	f        *os.File
	off, n   int64
	fileErr  chan error
	trailing string
}

func (h sender) Open(c server.Conn) {
	c.Write([]byte("head:"))
	h.fileErr <- c.WriteFile(h.f, h.off, h.n)
	c.Write([]byte(h.trailing))
	c.Close()
}
func (sender) Data(c server.Conn, in []byte) (int, error) { return len(in), nil }

func TestWriteFile(t *testing.T) {
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sender{closes: newCloses(), f: f, off: 1000, n: 2 << 20, fileErr: make(chan error, 1), trailing: ":tail"}
	r := start(t, 1, h, server.Limits{})
	c := dial(t, r.addr)
	b, err := io.ReadAll(bufio.NewReader(c))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-h.fileErr; err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	want := append(append([]byte("head:"), data[1000:1000+2<<20]...), ":tail"...)
	if !bytes.Equal(b, want) {
		t.Errorf("got %d bytes, want %d (equal: false)", len(b), len(want))
	}
	if err := h.next(t); err != nil {
		t.Errorf("Close: got %v, want nil", err)
	}
	if got, want := r.svc.Stats.BytesOut.Load(), int64(len(want)); got != want {
		t.Errorf("BytesOut: got %d, want %d", got, want)
	}
}

func TestNoTLS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := &server.Service{Handler: &echo{closes: newCloses()}, TLS: &tls.Config{}}
	if err := epoll.New(epoll.Options{}).Serve(t.Context(), ln, svc); !errors.Is(err, server.ErrNoTLS) {
		t.Errorf("Serve: got %v, want %v", err, server.ErrNoTLS)
	}
	if _, err := ln.Accept(); err == nil {
		t.Error("listener still open after Serve returned")
	}
}

// hub writes every line it reads to every connection, most of them on
// other loops: a chat room's traffic.
type hub struct {
	closes
	mu    sync.Mutex
	conns map[server.Conn]bool
	open  chan struct{}
}

func (h *hub) Open(c server.Conn) {
	h.mu.Lock()
	h.conns[c] = true
	h.mu.Unlock()
	h.open <- struct{}{}
}

func (h *hub) Data(c server.Conn, in []byte) (int, error) {
	i := bytes.LastIndexByte(in, '\n')
	if i < 0 {
		return 0, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for o := range h.conns {
		o.Write(in[:i+1])
	}
	return i + 1, nil
}

func (h *hub) Close(c server.Conn, err error) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
	h.closes.Close(c, err)
}

func TestBroadcast(t *testing.T) {
	const conns, lines = 8, 50
	h := &hub{closes: newCloses(), conns: map[server.Conn]bool{}, open: make(chan struct{}, conns)}
	r := start(t, 3, h, server.Limits{})
	cs := make([]*net.TCPConn, conns)
	for i := range cs {
		cs[i] = dial(t, r.addr)
		<-h.open
	}
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			for j := range lines {
				fmt.Fprintf(c, "%d:%d\n", i, j)
			}
		})
	}
	for i, c := range cs {
		// Each sender's lines arrive in the order it sent them.
		next := make([]int, conns)
		sc := bufio.NewScanner(c)
		for range conns * lines {
			if !sc.Scan() {
				t.Fatalf("conn %d: %v after %v", i, sc.Err(), next)
			}
			var from, n int
			fmt.Sscanf(sc.Text(), "%d:%d", &from, &n)
			if n != next[from] {
				t.Fatalf("conn %d: got line %d from %d, want %d", i, n, from, next[from])
			}
			next[from]++
		}
	}
	wg.Wait()
}
