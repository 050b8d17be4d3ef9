package bench_test

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/bench"
)

func TestEchoCount(t *testing.T) {
	addr := startEcho(t)
	for _, tc := range []struct {
		name               string
		conns, depth, size int
		count              int64
	}{
		{"conns=1", 1, 1, 64, 500},
		{"conns=8/pipeline=16", 8, 16, 64, 20000},
		{"conns=4/size=100000", 4, 2, 100000, 200},
		{"conns=3/count=not-a-multiple", 3, 7, 13, 1001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := echoConfig(addr)
			cfg.Conns, cfg.Pipeline, cfg.Size, cfg.Count = tc.conns, tc.depth, tc.size, tc.count
			rep := run(t, cfg)
			tr := rep.Targets[0]
			if tr.Requests != tc.count || tr.Errors != 0 {
				t.Errorf("got %d messages and %d errors %v, want %d and 0", tr.Requests, tr.Errors, tr.ErrorKinds, tc.count)
			}
			if tr.Latency.Count != tc.count {
				t.Errorf("latency histogram holds %d values, want %d", tr.Latency.Count, tc.count)
			}
			// A worker that starts after the others spent the budget
			// does not connect.
			if tr.Connect.Count < 1 || tr.Connect.Count > int64(tc.conns) {
				t.Errorf("%d connects recorded, want 1 to %d", tr.Connect.Count, tc.conns)
			}
			if tr.Latency.P50 <= 0 || tr.Latency.P50 > tr.Latency.P99 || tr.Latency.P99 > tr.Latency.Max {
				t.Errorf("percentiles out of order: %+v", tr.Latency)
			}
		})
	}
}

func TestEchoDuration(t *testing.T) {
	addr := startEcho(t)
	cfg := echoConfig(addr)
	cfg.Duration, cfg.Warmup = 400*time.Millisecond, 200*time.Millisecond
	start := time.Now()
	rep := run(t, cfg)
	el := time.Since(start)
	tr := rep.Targets[0]
	if tr.Requests == 0 || tr.Errors != 0 {
		t.Fatalf("got %d messages, %d errors %v", tr.Requests, tr.Errors, tr.ErrorKinds)
	}
	if tr.Seconds < 0.35 || tr.Seconds > 0.5 {
		t.Errorf("measured %.3fs, want about 0.4s (warm-up excluded)", tr.Seconds)
	}
	if el < 600*time.Millisecond {
		t.Errorf("the run took %v, less than warm-up plus duration", el)
	}
	var sum float64
	for _, s := range tr.Timeline {
		sum += s.OK
	}
	if len(tr.Timeline) == 0 || sum == 0 {
		t.Errorf("empty timeline %v", tr.Timeline)
	}
	if got := tr.Throughput; got < float64(tr.Requests)/0.5 {
		t.Errorf("throughput %.0f/s does not match %d messages in %.3fs", got, tr.Requests, tr.Seconds)
	}
}

func TestEchoUDP(t *testing.T) {
	addr := startUDPEcho(t)
	cfg := echoConfig(addr)
	cfg.UDP, cfg.Count, cfg.Pipeline, cfg.Size = true, 3000, 4, 100
	rep := run(t, cfg)
	tr := rep.Targets[0]
	if tr.Requests+tr.ErrorKinds["lost"] != 3000 || tr.Requests < 2900 {
		t.Errorf("got %d datagrams back, %v errors; want 3000 (a few lost at most)", tr.Requests, tr.ErrorKinds)
	}
	if rep.Transport != "udp" {
		t.Errorf("transport %q", rep.Transport)
	}
}

// TestEchoMismatch: a server that flips one byte in every 1,000 is caught,
// message by message.
func TestEchoMismatch(t *testing.T) {
	_, addr := startRaw(t, func(c net.Conn) {
		echoWith(c, func(off int64, b []byte) {
			for i := range b {
				if (off+int64(i))%1000 == 999 {
					b[i] ^= 0x20
				}
			}
		})
	})
	cfg := echoConfig(addr)
	cfg.Conns, cfg.Pipeline, cfg.Count, cfg.Size = 1, 8, 2000, 100
	rep := run(t, cfg)
	tr := rep.Targets[0]
	// 2,000 messages of 100 bytes: 200 KB, one bad byte per 1,000.
	if got := tr.ErrorKinds["mismatch"]; got != 200 {
		t.Errorf("mismatch errors %d (%v), want 200", got, tr.ErrorKinds)
	}
	if tr.Requests+tr.Errors != 2000 {
		t.Errorf("%d good + %d bad, want 2000 in all", tr.Requests, tr.Errors)
	}
}

// TestEchoReordered: bytes that come back complete but in the wrong order
// are mismatches too.
func TestEchoReordered(t *testing.T) {
	_, addr := startRaw(t, func(c net.Conn) {
		echoWith(c, func(off int64, b []byte) {
			if len(b) >= 2 {
				b[0], b[1] = b[1], b[0]
			}
		})
	})
	cfg := echoConfig(addr)
	cfg.Conns, cfg.Count = 1, 50
	rep := run(t, cfg)
	if tr := rep.Targets[0]; tr.ErrorKinds["mismatch"] == 0 {
		t.Errorf("no mismatch found in swapped bytes: %+v", tr.ErrorKinds)
	}
}

// TestServerClosesMidRun: a server that goes away counts as errors, and the
// report still comes.
func TestServerClosesMidRun(t *testing.T) {
	var srv *rawServer
	closed := make(chan struct{})
	srv, addr := startRaw(t, func(c net.Conn) {
		echoWith(c, func(off int64, b []byte) {
			if off > 50_000 {
				select {
				case <-closed:
				default:
					close(closed)
				}
			}
		})
	})
	go func() {
		<-closed
		srv.stop()
	}()
	cfg := echoConfig(addr)
	cfg.Duration = 500 * time.Millisecond
	cfg.Timeout = time.Second
	rep := run(t, cfg)
	tr := rep.Targets[0]
	if tr.Requests == 0 {
		t.Errorf("no messages before the server closed")
	}
	if tr.ErrorKinds["closed"] == 0 || tr.ErrorKinds["connect"] == 0 {
		t.Errorf("error kinds %v: want closed (mid-request) and connect (refused afterwards)", tr.ErrorKinds)
	}
	var b strings.Builder
	rep.WriteText(&b)
	if !strings.Contains(b.String(), "errors ") || !strings.Contains(b.String(), "connect ") {
		t.Errorf("text report does not break the errors down:\n%s", b.String())
	}
}

// TestOpenLoopCoordinatedOmission: against a server that stalls for 300ms,
// the corrected latency shows the stall in every request it delayed; the
// uncorrected one only in the request that was in flight.
func TestOpenLoopCoordinatedOmission(t *testing.T) {
	var stalled = make(chan struct{})
	_, addr := startRaw(t, func(c net.Conn) {
		echoWith(c, func(off int64, b []byte) {
			if off >= 64*200 {
				select {
				case <-stalled:
				default:
					close(stalled)
					time.Sleep(300 * time.Millisecond) // the stall under test
				}
			}
		})
	})
	cfg := echoConfig(addr)
	cfg.Conns, cfg.Rate, cfg.Duration = 1, 1000, time.Second
	rep := run(t, cfg)
	tr := rep.Targets[0]
	if tr.Uncorrected == nil || tr.Lag == nil {
		t.Fatal("open loop report without uncorrected latency or lag")
	}
	t.Logf("corrected p90 %.0fµs p99 %.0fµs; uncorrected p90 %.0fµs p99 %.0fµs; lag max %.0fµs",
		tr.Latency.P90, tr.Latency.P99, tr.Uncorrected.P90, tr.Uncorrected.P99, tr.Lag.Max)
	if tr.Latency.P90 < 10*tr.Uncorrected.P90 || tr.Latency.P99 < 100_000 {
		t.Errorf("corrected p90 %.0fµs p99 %.0fµs should show the 300ms stall; uncorrected p90 is %.0fµs",
			tr.Latency.P90, tr.Latency.P99, tr.Uncorrected.P90)
	}
	if tr.Lag.Max < 200_000 {
		t.Errorf("schedule lag max %.0fµs, want the stall (300ms) in it", tr.Lag.Max)
	}
	if tr.SendRate < 800 || tr.SendRate > 1100 {
		t.Errorf("send rate %.0f/s, want 1000/s", tr.SendRate)
	}
}

func TestInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, addr := startRaw(t, func(c net.Conn) {
		// In closed loop a connection sends its 100th message only after
		// the 99th reply was recorded: cancel then.
		echoWith(c, func(off int64, b []byte) {
			if off+int64(len(b)) >= 64*100 {
				cancel()
			}
		})
	})
	cfg := echoConfig(addr)
	cfg.Duration = time.Minute
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr := rep.Targets[0]
	if !rep.Interrupted || tr.Requests < 99 || tr.Seconds > 30 || tr.Errors != 0 {
		t.Errorf("interrupted %v, %d messages, %d errors in %.1fs; want a partial report without errors",
			rep.Interrupted, tr.Requests, tr.Errors, tr.Seconds)
	}
}

// TestServerCPUAndCompare measures two targets in interleaved rounds, one
// with its pid given: the server here is this very process, which also
// shows the warning about sharing CPUs.
func TestServerCPUAndCompare(t *testing.T) {
	a, b := startEcho(t), startEcho(t)
	cfg := echoConfig(a)
	cfg.Targets = []bench.Target{{Name: "a", Addr: a, PIDs: []int{os.Getpid()}}, {Name: "b", Addr: b}}
	cfg.Duration, cfg.Rounds = 300*time.Millisecond, 2
	rep := run(t, cfg)
	if len(rep.Targets) != 2 || len(rep.Ratios) != 1 {
		t.Fatalf("%d targets, %d ratios; want 2 and 1", len(rep.Targets), len(rep.Ratios))
	}
	for _, tr := range rep.Targets {
		if len(tr.Rounds) != 2 || tr.Requests == 0 {
			t.Errorf("%s: %d rounds, %d messages", tr.Name, len(tr.Rounds), tr.Requests)
		}
	}
	s := rep.Targets[0].Server
	if s == nil || s.User+s.Sys <= 0 {
		t.Errorf("server CPU %+v, want some time", s)
	}
	if rep.Targets[1].Server != nil {
		t.Errorf("target without a pid has server CPU figures")
	}
	if r := rep.Ratios[0]; r.Base != "a" || r.Target != "b" || r.Throughput == nil || *r.Throughput <= 0 {
		t.Errorf("ratio %+v", r)
	}
	shared := false
	for _, w := range rep.Warnings {
		shared = shared || strings.Contains(w, "shares CPU")
	}
	if !shared {
		t.Errorf("no warning about the generator sharing CPUs with the server: %q", rep.Warnings)
	}
}
