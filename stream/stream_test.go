package stream_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/engine/fork"
	"github.com/portside/portside/server"
	"github.com/portside/portside/stream"
)

// TestMain makes the test binary its own fork child: started with
// fork.EnvService set, it serves that one service's connection.
func TestMain(m *testing.M) {
	if fork.IsChild() {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		s := newService(os.Getenv(fork.EnvService))
		if err := engine.Serve(ctx, engine.Config{Engine: "fork", Addr: "127.0.0.1:0", Service: s}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

// seen carries what served functions observed back to tests that run in
// the same process (not under fork).
var seen = struct {
	sync.Mutex
	ch map[string]chan error
}{ch: map[string]chan error{}}

func observed(name string) chan error {
	seen.Lock()
	defer seen.Unlock()
	if seen.ch[name] == nil {
		seen.ch[name] = make(chan error, 16)
	}
	return seen.ch[name]
}

// gates hold served functions until a test opens them (not under fork).
var gates = struct {
	sync.Mutex
	ch map[string]chan struct{}
}{ch: map[string]chan struct{}{}}

func gate(name string) chan struct{} {
	gates.Lock()
	defer gates.Unlock()
	if gates.ch[name] == nil {
		gates.ch[name] = make(chan struct{})
	}
	return gates.ch[name]
}

// reset forgets what earlier runs of a test service observed and its gate,
// so that each test (and each -count) starts afresh.
func reset(name string) {
	seen.Lock()
	delete(seen.ch, name)
	seen.Unlock()
	gates.Lock()
	delete(gates.ch, name)
	gates.Unlock()
}

// newService builds the test service called name, in the test process or
// in a fork child. "name/engine" is the name under engine; the part
// before the slash picks the function.
func newService(full string) *server.Service {
	name, _, _ := strings.Cut(full, "/")
	s := &server.Service{Name: full, Stateless: true}
	if os.Getenv("STREAM_TEST_LOG") != "" {
		s.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var fn func(c *stream.Conn)
	switch {
	case name == "lines":
		fn = func(c *stream.Conn) {
			for {
				line, err := c.ReadLine()
				if err != nil {
					return
				}
				c.Write(append(line, '\n'))
			}
		}
	case strings.HasPrefix(name, "script:"):
		ops := strings.Split(strings.TrimPrefix(name, "script:"), ",")
		fn = func(c *stream.Conn) { c.WriteString(runScript(c, ops)) }
	case name == "avail":
		fn = func(c *stream.Conn) {
			var all []byte
			for {
				b, err := c.ReadAvailable()
				if err != nil {
					c.WriteString(fmt.Sprintf("%d %x %v\n", len(all), all, err))
					return
				}
				if len(b) == 0 {
					c.WriteString("empty read\n")
				}
				all = append(all, b...)
			}
		}
	case name == "timeout":
		fn = func(c *stream.Conn) {
			c.SetReadTimeout(200 * time.Millisecond)
			for {
				line, err := c.ReadLine()
				switch {
				case errors.Is(err, stream.ErrTimeout):
					c.WriteString("timeout\n")
				case err != nil:
					return
				default:
					c.WriteString("line:" + string(line) + "\n")
				}
			}
		}
	case name == "stuck": // answers one line, then never returns
		s.Limits.IdleTimeout = time.Second
		fn = func(c *stream.Conn) {
			c.ReadLine()
			c.WriteString("stuck\n")
			select {}
		}
	case name == "blockedread": // answers one line, then waits in a read
		s.Limits.DrainTimeout = 300 * time.Millisecond
		fn = func(c *stream.Conn) {
			c.ReadLine()
			c.WriteString("reading\n")
			_, err := c.ReadLine()
			observed(full) <- err
		}
	case name == "small": // lines and ReadN under a 1 KiB input limit
		s.Limits.MaxInput = 1024
		fn = func(c *stream.Conn) {
			for {
				line, err := c.ReadLine()
				if err != nil {
					observed(full) <- err
					return
				}
				if string(line) == "long" { // then a line over the limit, sent whole
					line, err := c.ReadLine()
					observed(full) <- fmt.Errorf("%d bytes: %w", len(line), err)
					return
				}
				if string(line) == "huge" {
					_, err := c.ReadN(1 << 40)
					observed(full) <- err
					return
				}
				c.Write(append(line, '\n'))
			}
		}
	case name == "gated": // reads a line, waits for the gate, counts lines
		fn = func(c *stream.Conn) {
			c.ReadLine()
			c.WriteString("waiting\n")
			<-gate(full)
			n := 0
			for {
				if _, err := c.ReadLine(); err != nil {
					c.WriteString(strconv.Itoa(n) + "\n")
					return
				}
				n++
			}
		}
	case name == "panic":
		fn = func(c *stream.Conn) {
			for {
				line, err := c.ReadLine()
				if err != nil {
					return
				}
				if string(line) == "boom" {
					panic("boom")
				}
				c.Write(append(line, '\n'))
			}
		}
	case name == "producer": // 16 MiB to a peer slower than the queue limit
		s.Limits.MaxQueue = 256 << 10
		fn = func(c *stream.Conn) {
			block := bytes.Repeat([]byte("0123456789abcdef"), 256)
			for range (16 << 20) / len(block) {
				if err := c.Write(block); err != nil {
					observed(full) <- err
					return
				}
			}
			observed(full) <- nil
		}
	default:
		return nil
	}
	s.Handler = stream.Handler(fn)
	return s
}

// runScript performs reads named by ops (L: ReadLine, U<c>: ReadUntil(c),
// N<n>: ReadN(n)) and returns a transcript, one read a line.
func runScript(c *stream.Conn, ops []string) string {
	var out strings.Builder
	for _, op := range ops {
		var b []byte
		var err error
		switch op[0] {
		case 'L':
			b, err = c.ReadLine()
		case 'U':
			b, err = c.ReadUntil(op[1])
		case 'N':
			n, _ := strconv.Atoi(op[1:])
			b, err = c.ReadN(n)
		}
		fmt.Fprintf(&out, "%q %v\n", b, err)
	}
	return out.String()
}

// start serves the test service name under eng and returns its address
// and service (whose Stats count only in this process's engines).
func start(t *testing.T, eng, name string) (string, *server.Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reset(name + "/" + eng)
	s := newService(name + "/" + eng)
	srv, err := engine.Start(ctx, engine.Config{Engine: eng, Addr: "127.0.0.1:0", Service: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := srv.Wait(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return srv.Addr().String(), s
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { nc.Close() })
	return nc
}

func expectLine(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	got, err := r.ReadString('\n')
	if got != want {
		t.Fatalf("read %q (%v), want %q", got, err, want)
	}
}

// expectAfterTimeouts is expectLine for a line that may follow timeouts
// the server reported while this client was slow to send.
func expectAfterTimeouts(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	for {
		got, err := r.ReadString('\n')
		if got == "timeout\n" {
			continue
		}
		if got != want {
			t.Fatalf("read %q (%v), want %q", got, err, want)
		}
		return
	}
}

// readClosed reads until the server closes the connection, and fails if
// it does not within the connection's deadline.
func readClosed(t *testing.T, nc net.Conn) {
	t.Helper()
	_, err := io.Copy(io.Discard, nc)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("server did not close the connection")
	}
}

func inProcess(eng string) bool { return eng != "fork" }

// TestEcho is Silly's echo test under every engine: three clients, five
// random messages each, every echo checked; a CRLF line comes back without
// its CR.
func TestEcho(t *testing.T) {
	for _, eng := range engine.Names() {
		t.Run(eng, func(t *testing.T) {
			addr, _ := start(t, eng, "lines")
			for i := range 3 { // one after another, so iterative serves each
				c, err := stream.Dial(t.Context(), addr)
				if err != nil {
					t.Fatal(err)
				}
				c.SetReadTimeout(30 * time.Second)
				for range 5 {
					msg := rand.Text()[:5] + "\n"
					if err := c.WriteString(msg); err != nil {
						t.Fatal(err)
					}
					got, err := c.ReadUntil('\n')
					if string(got) != msg {
						t.Fatalf("client %d: echo %q (%v), want %q", i, got, err, msg)
					}
				}
				c.WriteString("crlf\r\n")
				if got, err := c.ReadLine(); string(got) != "crlf" {
					t.Fatalf("echo %q (%v), want %q", got, err, "crlf")
				}
				c.Close()
			}
		})
	}
}

// readCases are reads of input that arrives in pieces: the results must
// not depend on where it was split.
var readCases = []struct {
	name   string
	chunks []string
	ops    string
	want   string
}{
	{"lines split anywhere", []string{"hel", "lo\nwor", "ld\r", "\n", "tail"}, "L,L,L,L",
		"\"hello\" <nil>\n\"world\" <nil>\n\"tail\" <nil>\n\"\" EOF\n"},
	{"empty lines", []string{"\n\r\n", "\n"}, "L,L,L,L",
		"\"\" <nil>\n\"\" <nil>\n\"\" <nil>\n\"\" EOF\n"},
	{"delimiter kept", []string{"a;b", ";", "c"}, "U;,U;,U;,U;",
		"\"a;\" <nil>\n\"b;\" <nil>\n\"c\" EOF\n\"\" EOF\n"},
	{"counts", []string{"12", "345", "6789"}, "N3,N4,N0,N5,N1",
		"\"123\" <nil>\n\"4567\" <nil>\n\"\" <nil>\n\"89\" unexpected EOF\n\"\" EOF\n"},
	{"mixed", []string{"3\nab", "cx;y\n"}, "L,N3,U;,L,L",
		"\"3\" <nil>\n\"abc\" <nil>\n\"x;\" <nil>\n\"y\" <nil>\n\"\" EOF\n"},
	{"one byte at a time", []string{"a", "b", "\r", "\n", "c", "d", "e", "f"}, "L,N2,U\n",
		"\"ab\" <nil>\n\"cd\" <nil>\n\"ef\" EOF\n"},
}

// TestReadsServed runs each read case in a served function under every
// engine; the client sends the pieces one by one, then half-closes.
func TestReadsServed(t *testing.T) {
	for _, eng := range engine.Names() {
		t.Run(eng, func(t *testing.T) {
			for _, tc := range readCases {
				t.Run(tc.name, func(t *testing.T) {
					addr, _ := start(t, eng, "script:"+tc.ops)
					nc := dial(t, addr)
					for _, ch := range tc.chunks {
						if _, err := nc.Write([]byte(ch)); err != nil {
							t.Fatal(err)
						}
						time.Sleep(2 * time.Millisecond) // encourages, not needs, a split
					}
					nc.(*net.TCPConn).CloseWrite()
					got, err := io.ReadAll(nc)
					if string(got) != tc.want {
						t.Errorf("transcript (%v):\n%s\nwant:\n%s", err, got, tc.want)
					}
				})
			}
		})
	}
}

// TestReadsDialed runs the same cases on a dialed connection, against a
// plain server that writes the pieces one by one.
func TestReadsDialed(t *testing.T) {
	for _, tc := range readCases {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				defer nc.Close()
				for _, ch := range tc.chunks {
					nc.Write([]byte(ch))
					time.Sleep(2 * time.Millisecond)
				}
			}()
			c, err := stream.Dial(t.Context(), ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadTimeout(30 * time.Second)
			if got := runScript(c, strings.Split(tc.ops, ",")); got != tc.want {
				t.Errorf("transcript:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestReadAvailable: every byte arrives, in order, each read non-empty.
func TestReadAvailable(t *testing.T) {
	for _, eng := range engine.Names() {
		t.Run(eng, func(t *testing.T) {
			addr, _ := start(t, eng, "avail")
			nc := dial(t, addr)
			var sent []byte
			for i := range 20 {
				b := bytes.Repeat([]byte{byte('a' + i)}, 100*i+1)
				nc.Write(b)
				sent = append(sent, b...)
			}
			nc.(*net.TCPConn).CloseWrite()
			got, _ := io.ReadAll(nc)
			want := fmt.Sprintf("%d %x EOF\n", len(sent), sent)
			if string(got) != want {
				t.Errorf("got %.80q..., want %.80q...", got, want)
			}
		})
	}
}

// TestReadTimeout: a read that waits too long returns ErrTimeout, and the
// connection goes on, a half-sent line included.
func TestReadTimeout(t *testing.T) {
	for _, eng := range engine.Names() {
		t.Run(eng, func(t *testing.T) {
			addr, _ := start(t, eng, "timeout")
			nc := dial(t, addr)
			r := bufio.NewReader(nc)
			expectLine(t, r, "timeout\n")
			nc.Write([]byte("x\n"))
			expectAfterTimeouts(t, r, "line:x\n")
			nc.Write([]byte("ab"))
			expectLine(t, r, "timeout\n")
			nc.Write([]byte("c\n"))
			expectAfterTimeouts(t, r, "line:abc\n")
			expectLine(t, r, "timeout\n")
		})
	}
}

// TestDialedTimeout: the same on a dialed connection.
func TestDialedTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	next := make(chan struct{})
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.Write([]byte("ab"))
		<-next
		nc.Write([]byte("c\n"))
	}()
	c, err := stream.Dial(t.Context(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadTimeout(100 * time.Millisecond)
	if _, err := c.ReadLine(); !errors.Is(err, stream.ErrTimeout) {
		t.Fatalf("ReadLine: %v, want ErrTimeout", err)
	}
	close(next)
	c.SetReadTimeout(30 * time.Second)
	if line, err := c.ReadLine(); string(line) != "abc" || err != nil {
		t.Fatalf("ReadLine after timeout: %q, %v; want \"abc\"", line, err)
	}
}

// TestStuckFunction: a function that never returns still has its
// connection closed by the idle timeout.
func TestStuckFunction(t *testing.T) {
	for _, eng := range engine.Names() {
		t.Run(eng, func(t *testing.T) {
			addr, s := start(t, eng, "stuck")
			nc := dial(t, addr)
			nc.Write([]byte("hi\n"))
			r := bufio.NewReader(nc)
			expectLine(t, r, "stuck\n")
			readClosed(t, nc)
			if inProcess(eng) {
				waitFor(t, "an idle timeout counted", func() bool { return s.Stats.IdleTimeouts.Load() == 1 })
			}
		})
	}
}

// TestShutdownEndsRead: shutting the service down closes a connection
// whose function waits in a read, and the read returns an error.
func TestShutdownEndsRead(t *testing.T) {
	for _, eng := range engine.Names() {
		t.Run(eng, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			reset("blockedread/" + eng)
			s := newService("blockedread/" + eng)
			srv, err := engine.Start(ctx, engine.Config{Engine: eng, Addr: "127.0.0.1:0", Service: s})
			if err != nil {
				t.Fatal(err)
			}
			nc := dial(t, srv.Addr().String())
			nc.Write([]byte("hi\n"))
			expectLine(t, bufio.NewReader(nc), "reading\n")
			cancel()
			if err := srv.Wait(); err != nil {
				t.Fatal(err)
			}
			readClosed(t, nc)
			if inProcess(eng) {
				select {
				case err := <-observed("blockedread/" + eng):
					if err == nil {
						t.Error("the blocked read returned no error")
					}
				case <-time.After(30 * time.Second):
					t.Fatal("the blocked read did not return")
				}
			}
		})
	}
}

// TestHugeLine: a peer sending a 100 MB line to a ReadLine loop is cut off
// at the input limit: the read fails with ErrInputTooLarge, the overflow is
// counted, and the connection closes while the peer is still sending.
func TestHugeLine(t *testing.T) {
	for _, eng := range engine.Names() {
		t.Run(eng, func(t *testing.T) {
			addr, s := start(t, eng, "small")
			nc := dial(t, addr)
			nc.Write([]byte("ok\n"))
			expectLine(t, bufio.NewReader(nc), "ok\n")
			done := make(chan int)
			go func() {
				chunk := bytes.Repeat([]byte("x"), 64<<10)
				sent := 0
				for sent < 100<<20 {
					n, err := nc.Write(chunk)
					sent += n
					if err != nil {
						break
					}
				}
				done <- sent
			}()
			readClosed(t, nc)
			nc.Close()
			<-done
			if inProcess(eng) {
				if err := <-observed("small/" + eng); !errors.Is(err, server.ErrInputTooLarge) {
					t.Errorf("ReadLine: %v, want ErrInputTooLarge", err)
				}
				waitFor(t, "an input overflow counted", func() bool { return s.Stats.InputOverflows.Load() == 1 })
			}
		})
	}
}

// TestLongLineAtOnce: a line over the limit is an error even when it
// arrives whole, delimiter and all, in one read.
func TestLongLineAtOnce(t *testing.T) {
	for _, eng := range engine.Names() {
		if !inProcess(eng) {
			continue // what the read returned is seen in this process only
		}
		t.Run(eng, func(t *testing.T) {
			addr, s := start(t, eng, "small")
			nc := dial(t, addr)
			nc.Write(append([]byte("long\n"), append(bytes.Repeat([]byte("w"), 1500), '\n')...))
			readClosed(t, nc)
			if err := <-observed("small/" + eng); !errors.Is(err, server.ErrInputTooLarge) {
				t.Errorf("ReadLine of 1500 bytes under a 1024-byte limit: %v, want ErrInputTooLarge", err)
			}
			// Nothing more comes from the peer, so no Data call could
			// carry the reason: the close itself does.
			waitFor(t, "an input overflow counted", func() bool { return s.Stats.InputOverflows.Load() == 1 })
		})
	}
}

// TestHugeReadN: ReadN beyond the input limit fails at once, allocating
// nothing; the function returns and the connection closes.
func TestHugeReadN(t *testing.T) {
	for _, eng := range engine.Names() {
		t.Run(eng, func(t *testing.T) {
			addr, _ := start(t, eng, "small")
			nc := dial(t, addr)
			nc.Write([]byte("huge\n"))
			nc.Write(bytes.Repeat([]byte("y"), 2048))
			readClosed(t, nc)
			if inProcess(eng) {
				if err := <-observed("small/" + eng); !errors.Is(err, server.ErrInputTooLarge) {
					t.Errorf("ReadN(1<<40): %v, want ErrInputTooLarge", err)
				}
			}
		})
	}
}

// TestDialedLimits: a dialed connection refuses reads beyond its limit at
// once, and a line beyond it with an error.
func TestDialedLimits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.Write(bytes.Repeat([]byte("z"), 2*server.DefaultMaxInput))
	}()
	c, err := stream.Dial(t.Context(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadTimeout(30 * time.Second)
	if _, err := c.ReadN(1 << 40); !errors.Is(err, server.ErrInputTooLarge) {
		t.Errorf("ReadN(1<<40): %v, want ErrInputTooLarge", err)
	}
	if _, err := c.ReadLine(); !errors.Is(err, server.ErrInputTooLarge) {
		t.Errorf("ReadLine of a line beyond the limit: %v, want ErrInputTooLarge", err)
	}
}

// TestBackpressure: while the function does not read, the engine stops
// reading, so the peer's writes block; nothing is lost or counted as an
// overflow, and once the function reads again it gets every line.
func TestBackpressure(t *testing.T) {
	for _, eng := range engine.Names() {
		if !inProcess(eng) {
			continue // the gate is in this process
		}
		t.Run(eng, func(t *testing.T) {
			addr, s := start(t, eng, "gated")
			nc := dial(t, addr)
			r := bufio.NewReader(nc)
			nc.Write([]byte("first\n"))
			expectLine(t, r, "waiting\n")
			line := append(bytes.Repeat([]byte("l"), 1023), '\n')
			block := bytes.Repeat(line, 64)
			nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
			sent := 0
			var err error
			for sent < 256<<20 && err == nil {
				var n int
				n, err = nc.Write(block)
				sent += n
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("wrote %d bytes, then %v; want the writes held back", sent, err)
			}
			if n := s.Stats.InputOverflows.Load(); n != 0 {
				t.Errorf("%d input overflows", n)
			}
			close(gate("gated/" + eng))
			nc.(*net.TCPConn).CloseWrite()
			want := (sent + len(line) - 1) / len(line) // a last partial line counts
			expectLine(t, r, strconv.Itoa(want)+"\n")
		})
	}
}

// TestPanic: a panic in one connection's function closes that connection,
// is counted, and the service serves on.
func TestPanic(t *testing.T) {
	for _, eng := range engine.Names() {
		t.Run(eng, func(t *testing.T) {
			addr, s := start(t, eng, "panic")
			nc := dial(t, addr)
			nc.Write([]byte("boom\n"))
			readClosed(t, nc)
			if inProcess(eng) {
				waitFor(t, "a panic counted", func() bool { return s.Stats.HandlerPanics.Load() == 1 })
			}
			nc2 := dial(t, addr)
			nc2.Write([]byte("still\n"))
			expectLine(t, bufio.NewReader(nc2), "still\n")
		})
	}
}

// TestWritesPaced: a function writing 16 MiB to a peer that starts reading
// late is slowed to its pace, not cut off at the 256 KiB queue limit.
func TestWritesPaced(t *testing.T) {
	for _, eng := range engine.Names() {
		t.Run(eng, func(t *testing.T) {
			addr, s := start(t, eng, "producer")
			nc := dial(t, addr)
			time.Sleep(300 * time.Millisecond) // let the socket buffers fill first
			n, err := io.Copy(io.Discard, nc)
			if n != 16<<20 || err != nil {
				t.Errorf("read %d bytes (%v), want %d", n, err, 16<<20)
			}
			if inProcess(eng) {
				if err := <-observed("producer/" + eng); err != nil {
					t.Errorf("Write: %v", err)
				}
				if n := s.Stats.SlowConsumers.Load(); n != 0 {
					t.Errorf("%d slow consumers", n)
				}
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestSpawner: a stream handler tells engines that it runs a goroutine per
// connection, so epoll lets it run before blocking (server.Spawner).
func TestSpawner(t *testing.T) {
	if !server.Spawns(stream.Handler(func(*stream.Conn) {})) {
		t.Error("stream.Handler is not a server.Spawner that says it spawns goroutines")
	}
}
