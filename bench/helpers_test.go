package bench_test

import (
	"context"
	"github.com/portside/portside/internal/testkit"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/portside/portside/bench"
	"github.com/portside/portside/echo"
	"github.com/portside/portside/server"
)

// startEcho serves portside's echo service on a loopback port until the
// test ends.
func startEcho(t *testing.T) string {
	t.Helper()
	return testkit.Serve(t, "goroutine", &server.Service{Name: "echo", Handler: echo.New(echo.Options{})})
}

// startUDPEcho serves portside's UDP echo until the test ends.
func startUDPEcho(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		echo.ServeUDP(ctx, pc, new(server.Stats))
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return pc.LocalAddr().String()
}

// rawServer accepts connections and hands each to serve, until the test
// ends or stop is called.
type rawServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
	once  sync.Once
}

func startRaw(t *testing.T, serve func(c net.Conn)) (*rawServer, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Go(func() {
				defer c.Close()
				serve(c)
			})
		}
	})
	t.Cleanup(s.stop)
	return s, ln.Addr().String()
}

// stop closes the listener and every connection.
func (s *rawServer) stop() {
	s.once.Do(func() {
		s.ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	s.wg.Wait()
}

// echoWith echoes c's bytes through f, which may alter them.
func echoWith(c net.Conn, f func(off int64, b []byte)) {
	buf := make([]byte, 32<<10)
	var off int64
	for {
		n, err := c.Read(buf)
		if n > 0 {
			f(off, buf[:n])
			off += int64(n)
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func run(t *testing.T, cfg bench.Config) *bench.Report {
	t.Helper()
	rep, err := bench.Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func echoConfig(addr string) bench.Config {
	return bench.Config{
		Mode:     bench.Echo,
		Targets:  []bench.Target{{Name: "echo", Addr: addr}},
		Conns:    4,
		Pipeline: 1,
		Size:     64,
		Duration: 20 * time.Second,
		Timeout:  5 * time.Second,
	}
}

var _ = io.EOF
