package echo_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"github.com/portside/portside/internal/testkit"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portside/portside/echo"
	"github.com/portside/portside/engine"
	"github.com/portside/portside/server"
)

var update = flag.Bool("update", false, "rewrite golden files")

// start serves h with the named engine on a loopback port until the test
// ends.
func start(t *testing.T, name string, s *server.Service) string {
	t.Helper()
	return testkit.Serve(t, name, s)
}

func dial(t *testing.T, addr string) net.Conn { return testkit.DialTCP(t, addr, 60*time.Second) }

// TestManyClients: 1,000 concurrent connections send random payloads of
// random sizes from 1 B to 1 MiB, and every byte comes back exactly.
func TestManyClients(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent|testkit.Many, func(t *testing.T, name string) {
		addr := start(t, name, &server.Service{Name: "echo", Handler: echo.New(echo.Options{})})
		n := 1000
		if testing.Short() {
			n = 100
		}
		// Connect all first, one after another, then talk on all at once.
		conns := make([]net.Conn, n)
		for i := range conns {
			conns[i] = dial(t, addr)
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i, c := range conns {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(i), 7))
				// Sizes spread evenly over the orders of magnitude
				// from 1 B to 1 MiB.
				size := int(math.Exp2(r.Float64() * 20))
				if i == 0 {
					size = 1 << 20
				}
				errs <- roundTrip(c, r, size)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

func roundTrip(c net.Conn, r *rand.Rand, size int) error {
	c.SetDeadline(time.Now().Add(120 * time.Second))
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(r.Uint32())
	}
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		werr <- err
	}()
	got := make([]byte, size)
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("echo of %d bytes: %w", size, err)
	}
	if err := <-werr; err != nil {
		return err
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("echo of %d bytes differs", size)
	}
	return nil
}

func TestUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	st := new(server.Stats)
	done := make(chan error, 1)
	go func() { done <- echo.ServeUDP(ctx, pc, st) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("ServeUDP: %v", err)
			}
		}
	}
	defer stop()
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, msg := range []string{"x", "hello, datagram", strings.Repeat("z", 8000), "\x00\xff\n"} {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65536)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		// One datagram answers one datagram, whole.
		if got := string(buf[:n]); got != msg {
			t.Errorf("datagram %q came back as %q", trunc(msg), trunc(got))
		}
	}
	// The server counts a reply once sent, which may be after it arrived:
	// read the counters once it has stopped.
	stop()
	if st.BytesIn.Load() != st.BytesOut.Load() || st.BytesIn.Load() == 0 {
		t.Errorf("counted %d bytes in, %d out", st.BytesIn.Load(), st.BytesOut.Load())
	}
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// TestShellTranscript plays a session in shell mode and compares it with a
// golden transcript.
func TestShellTranscript(t *testing.T) {
	testkit.EachEngine(t, 0, func(t *testing.T, name string) {
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		st := new(server.Stats)
		h := echo.New(echo.Options{Mode: echo.Shell, Stats: st, Now: func() time.Time { return now }})
		addr := start(t, name, &server.Service{Name: "echo", Handler: h, Stats: st})
		c := dial(t, addr)
		// One write, so the server's byte count in "stats" does not depend
		// on how the input was split into reads.
		fmt.Fprint(c, "help\r\nhello there\r\ntime\r\n  stats  \r\n\x00\x01binary\xff\r\nquit\r\n")
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "shell.golden", got)
	})
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", name), got, *update)
}

// TestHugeLine: a 100 MB line in line mode closes that connection with a
// clear log line, server memory stays bounded and other clients carry on.
func TestHugeLine(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		var logs testkit.SyncBuffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		s := &server.Service{Name: "echo", Handler: echo.New(echo.Options{Mode: echo.Lines, Logger: log}), Logger: log}
		addr := start(t, name, s)
		other := dial(t, addr)

		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)

		c := dial(t, addr)
		chunk := bytes.Repeat([]byte("x"), 1<<20)
		sent := 0
		for sent < 100<<20 {
			n, err := c.Write(chunk)
			sent += n
			if err != nil {
				break // the server gave up on us, as it should
			}
		}
		// The server may have discarded the rest while closing; it must
		// not have echoed any of it, and it must close.
		echoed, err := io.Copy(io.Discard, c)
		if isTimeout(err) {
			t.Fatalf("connection still open after a %d-byte line", sent)
		}
		if echoed > 0 {
			t.Errorf("server echoed %d bytes of an unfinished line", echoed)
		}
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 32<<20 {
			t.Errorf("heap grew by %d MiB while refusing a long line", grew>>20)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logs.String(), "line too long") && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		if !strings.Contains(logs.String(), "line too long") {
			t.Errorf("no log line says why the connection was closed; logs:\n%s", logs.String())
		}
		fmt.Fprintf(other, "still here\n")
		got := make([]byte, len("still here\n"))
		if _, err := io.ReadFull(other, got); err != nil || string(got) != "still here\n" {
			t.Errorf("other client got %q, %v", got, err)
		}
	})
}

// TestShellGarbage: binary noise in shell mode never crashes the server.
func TestShellGarbage(t *testing.T) {
	testkit.EachEngine(t, 0, func(t *testing.T, name string) {
		addr := start(t, name, &server.Service{Name: "echo", Handler: echo.New(echo.Options{Mode: echo.Shell, MaxLine: 1024})})
		r := rand.New(rand.NewPCG(1, 2))
		for range 20 {
			c := dial(t, addr)
			noise := make([]byte, 1+r.IntN(64<<10))
			for i := range noise {
				noise[i] = byte(r.Uint32())
			}
			c.Write(noise)
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, c)
			c.Close()
		}
		c := dial(t, addr)
		fmt.Fprintf(c, "hi\r\nquit\r\n")
		got, _ := io.ReadAll(c)
		if !strings.Contains(string(got), "Echo: hi\r\n") || !strings.HasSuffix(string(got), "Bye.\r\n") {
			t.Errorf("after the noise the shell answered %q", got)
		}
	})
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestNetcat talks to the echo service the way a person would: with nc,
// over TCP and UDP.
func TestNetcat(t *testing.T) {
	nc, err := exec.LookPath("nc")
	if err != nil {
		t.Fatal("nc not found: install netcat-openbsd (scripts/test does)")
	}
	h := echo.New(echo.Options{Mode: echo.Lines})
	addr := start(t, engine.Default, &server.Service{Name: "echo", Handler: h})
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// -N: shut the socket's write side at end of input, as a script would.
	cmd := exec.CommandContext(ctx, nc, "-N", host, port)
	cmd.Stdin = strings.NewReader("first line\nsecond line\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nc: %v", err)
	}
	if got, want := string(out), "first line\nsecond line\n"; got != want {
		t.Errorf("nc printed %q, want %q", got, want)
	}

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go echo.ServeUDP(ctx, pc, nil)
	_, uport, _ := net.SplitHostPort(pc.LocalAddr().String())
	cmd = exec.CommandContext(ctx, nc, "-u", "-w", "1", host, uport)
	cmd.Stdin = strings.NewReader("datagram")
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("nc -u: %v", err)
	}
	if string(out) != "datagram" {
		t.Errorf("nc -u printed %q, want %q", out, "datagram")
	}
}
