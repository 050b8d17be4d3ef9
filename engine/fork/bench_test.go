package fork_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/portside/portside/engine/fork"
	"github.com/portside/portside/engine/goroutine"
	"github.com/portside/portside/engine/iterative"
	"github.com/portside/portside/server"
)

// BenchmarkConnect measures what a connection costs to set up under each
// engine: dial, read the greeting, one echoed line, close. Under fork that
// includes starting a child process. For fork it also reports the memory of
// a child serving an idle connection (resident, and proportional: shared
// pages split among the processes sharing them).
func BenchmarkConnect(b *testing.B) {
	engines := []struct {
		name string
		eng  server.Engine
	}{
		{"iterative", iterative.New()},
		{"goroutine", goroutine.New()},
		{"fork", new(fork.Engine)},
	}
	for _, e := range engines {
		b.Run("engine="+e.name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(b.Context())
			ln, err := server.Listen(ctx, e.eng, "tcp", "127.0.0.1:0", "echo")
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				done <- e.eng.Serve(ctx, ln, &server.Service{Name: "echo", Handler: lineHandler{}, Stateless: true})
			}()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					b.Error(err)
				}
			}()
			addr := ln.Addr().String()
			b.ReportAllocs()
			for b.Loop() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				r := bufio.NewReader(c)
				if _, err := r.ReadString('\n'); err != nil {
					b.Fatal(err)
				}
				c.Write([]byte("x\n"))
				if s, err := r.ReadString('\n'); err != nil || s != "x\n" {
					b.Fatalf("echo: %q, %v", s, err)
				}
				c.Close()
			}
			b.StopTimer()
			if e.name == "fork" {
				rss, pss := childMemory(b, addr, 20)
				b.ReportMetric(rss, "rss-KiB/child")
				b.ReportMetric(pss, "pss-KiB/child")
			}
		})
	}
}

// childMemory opens n idle connections and averages the memory of the
// children serving them.
func childMemory(b *testing.B, addr string, n int) (rss, pss float64) {
	b.Helper()
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "pid ")))
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			b.Fatal(err)
		}
		for l := range strings.Lines(string(data)) {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseFloat(f[1], 64)
			switch f[0] {
			case "Rss:":
				rss += v
			case "Pss:":
				pss += v
			}
		}
	}
	return rss / float64(n), pss / float64(n)
}
