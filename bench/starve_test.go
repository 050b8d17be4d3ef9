package bench_test

import (
	"bytes"
	"io"
	"net"

	"strings"
	"testing"
	"time"

	"github.com/portside/portside/bench"
	"github.com/portside/portside/echo"
	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/server"
)

// startEchoOn serves portside's echo service under the named engine.
func startEchoOn(t *testing.T, engine string) string {
	t.Helper()
	return testkit.Serve(t, engine, &server.Service{Name: "echo", Handler: echo.New(echo.Options{})})
}

// TestIterativeStarvation: the iterative engine serves one connection at a
// time, so of 8 connections that all stay open, 7 never get an answer. The
// report must say so (their requests are unanswered, the connections
// starved, the run failed), and must say nothing of the kind for an engine
// that serves them all.
func TestIterativeStarvation(t *testing.T) {
	for _, tc := range []struct {
		engine string
		starve bool
	}{
		{"iterative", true},
		{"epoll", false},
	} {
		t.Run(tc.engine, func(t *testing.T) {
			addr := startEchoOn(t, tc.engine)
			cfg := echoConfig(addr)
			cfg.Targets[0].Name = tc.engine
			cfg.Conns, cfg.Duration, cfg.Warmup = 8, time.Second, 200*time.Millisecond
			cfg.Timeout = 2 * time.Second
			if !tc.starve {
				cfg.Timeout = 20 * time.Second // a healthy server is never waited for
			}
			rep := run(t, cfg)
			tr := rep.Targets[0]
			var text strings.Builder
			rep.WriteText(&text)
			t.Logf("report:\n%s", text.String())
			unanswered := tr.ErrorKinds["unanswered"]
			warned := false
			for _, w := range rep.Warnings {
				warned = warned || strings.Contains(w, "starve")
			}
			if !tc.starve {
				if rep.Failed() != 0 || unanswered != 0 || warned || tr.Requests == 0 {
					t.Errorf("%d good, %d failed %v, starvation warning %v; want no failures and no warning",
						tr.Requests, rep.Failed(), tr.ErrorKinds, warned)
				}
				return
			}
			// Each starved connection sent one message, and it was never
			// answered.
			if unanswered != 7 {
				t.Errorf("%d unanswered (%v), want 7: one for each starved connection", unanswered, tr.ErrorKinds)
			}
			if rep.Failed() == 0 {
				t.Errorf("Failed() = 0: the run must fail")
			}
			if !warned {
				t.Errorf("no starvation warning in %q", rep.Warnings)
			}
			if !strings.Contains(text.String(), "unanswered 7") || !strings.Contains(text.String(), "(7 of 8 starved)") {
				t.Errorf("the text report does not count the unanswered messages and starved connections")
			}
			if p := tr.PerConn; p.Starved != 7 || p.Connections != 8 || p.Min != 0 || p.Max != tr.Requests {
				t.Errorf("per connection %+v: want 7 of 8 starved, one with all %d replies", p, tr.Requests)
			}
			var js, page strings.Builder
			rep.WriteJSON(&js)
			rep.WriteHTML(&page)
			if !strings.Contains(js.String(), `"unanswered": 7`) || !strings.Contains(js.String(), `"starved": 7`) {
				t.Errorf("the JSON report does not count them")
			}
			if !strings.Contains(page.String(), "7 of 8 starved") || !strings.Contains(page.String(), "unanswered 7") {
				t.Errorf("the HTML report does not count them")
			}
		})
	}
}

// muteTCP echoes the first limit bytes of each connection, then reads and
// answers nothing more: a server that stopped answering but never closed.
func muteTCP(limit int64) func(c net.Conn) {
	return func(c net.Conn) {
		buf := make([]byte, 32<<10)
		var off int64
		for {
			n, err := c.Read(buf)
			if k := min(int64(n), max(limit-off, 0)); k > 0 {
				if _, werr := c.Write(buf[:k]); werr != nil {
					return
				}
			}
			off += int64(n)
			if err != nil {
				return
			}
		}
	}
}

// muteHTTP answers the first limit requests of each connection, then none.
func muteHTTP(limit int) func(c net.Conn) {
	return func(c net.Conn) {
		buf := make([]byte, 32<<10)
		var pending []byte
		answered := 0
		for {
			n, err := c.Read(buf)
			pending = append(pending, buf[:n]...)
			for {
				i := bytes.Index(pending, []byte("\r\n\r\n"))
				if i < 0 {
					break
				}
				pending = pending[i+4:]
				if answered < limit {
					answered++
					if _, werr := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); werr != nil {
						return
					}
				}
			}
			if err != nil {
				return
			}
		}
	}
}

// startMuteUDP echoes the first limit datagrams from each client.
func startMuteUDP(t *testing.T, limit int) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		seen := map[string]int{}
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			// The first datagram is bench's preflight probe.
			if seen[from.String()]++; seen[from.String()] <= limit || n == 8 {
				pc.WriteTo(buf[:n], from)
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return pc.LocalAddr().String()
}

// TestUnanswered: a server that stops answering, without closing, leaves
// requests owed when the run ends. In every mode and both loop kinds they
// are counted as unanswered, exactly as many as were in flight.
func TestUnanswered(t *testing.T) {
	for _, tc := range []struct {
		name        string
		mode        bench.Mode
		udp, open   bool
		conns, pipe int
		good, owed  int64
	}{
		{"echo closed loop", bench.Echo, false, false, 2, 3, 20, 6},
		{"echo open loop", bench.Echo, false, true, 2, 3, 20, 6},
		{"udp closed loop", bench.Echo, true, false, 1, 2, 10, 2},
		{"udp open loop", bench.Echo, true, true, 1, 2, 10, 2},
		{"http closed loop", bench.HTTP, false, false, 2, 1, 10, 2},
		{"http open loop", bench.HTTP, false, true, 2, 2, 10, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			perConn := tc.good / int64(tc.conns)
			var cfg bench.Config
			switch {
			case tc.udp:
				cfg = echoConfig(startMuteUDP(t, int(perConn)))
				cfg.UDP = true
			case tc.mode == bench.Echo:
				_, addr := startRaw(t, muteTCP(64*perConn))
				cfg = echoConfig(addr)
			default:
				_, addr := startRaw(t, muteHTTP(int(perConn)))
				cfg = httpConfig("http://" + addr + "/")
			}
			cfg.Conns, cfg.Pipeline = tc.conns, tc.pipe
			cfg.Duration, cfg.Timeout = 300*time.Millisecond, 2*time.Second // the owed are 2s old only after the window
			if tc.open {
				cfg.Rate = 200
			}
			rep := run(t, cfg)
			tr := rep.Targets[0]
			if got := tr.ErrorKinds["unanswered"]; got != tc.owed || tr.Requests != tc.good || tr.Errors != tc.owed {
				t.Errorf("%d good, errors %v; want %d good and %d unanswered, nothing else", tr.Requests, tr.ErrorKinds, tc.good, tc.owed)
			}
			if rep.Failed() != tc.owed {
				t.Errorf("Failed() = %d, want %d", rep.Failed(), tc.owed)
			}
		})
	}
}
