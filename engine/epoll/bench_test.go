//go:build linux

package epoll_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/portside/portside/engine/epoll"
	"github.com/portside/portside/engine/goroutine"
	"github.com/portside/portside/server"
)

// plainEcho is the cheapest handler: it writes back what it reads.
type plainEcho struct{}

func (plainEcho) Open(server.Conn)                           {}
func (plainEcho) Close(server.Conn, error)                   {}
func (plainEcho) Data(c server.Conn, in []byte) (int, error) { return len(in), c.Write(in) }

// BenchmarkEcho measures 64-byte echo round trips over loopback. One op is
// one round on every connection: depth messages written to each, then all
// read back; ns/msg divides by the messages. The client runs in the same
// process, so the figures compare engines rather than measure one alone.
func BenchmarkEcho(b *testing.B) {
	engines := []struct {
		name string
		new  func() server.Engine
	}{
		{"epoll", func() server.Engine { return epoll.New(epoll.Options{}) }},
		{"goroutine", func() server.Engine { return goroutine.New() }},
	}
	for _, e := range engines {
		for _, conns := range []int{1, 50, 1000} {
			for _, depth := range []int{1, 16} {
				b.Run(fmt.Sprintf("engine=%s/conns=%d/depth=%d", e.name, conns, depth), func(b *testing.B) {
					benchEcho(b, e.new(), conns, depth)
				})
			}
		}
	}
}

func benchEcho(b *testing.B, eng server.Engine, conns, depth int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	svc := &server.Service{Name: "bench", Handler: plainEcho{}}
	ctx, cancel := context.WithCancel(b.Context())
	served := make(chan error, 1)
	go func() { served <- eng.Serve(ctx, ln, svc) }()
	defer func() {
		cancel()
		<-served
	}()

	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	// A few client goroutines, each driving a share of the connections,
	// keep every connection busy without a goroutine switch per message.
	workers := min(conns, 4)
	msg := make([]byte, 64*depth)
	for i := range msg {
		msg[i] = byte('a' + i%26)
	}
	start := make([]chan struct{}, workers)
	done := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		start[w] = make(chan struct{})
		wg.Go(func() {
			buf := make([]byte, len(msg))
			for range start[w] {
				var err error
				for i := w; i < conns && err == nil; i += workers {
					_, err = cs[i].Write(msg)
				}
				for i := w; i < conns && err == nil; i += workers {
					_, err = io.ReadFull(cs[i], buf)
				}
				done <- err
			}
		})
	}
	defer func() {
		for _, s := range start {
			close(s)
		}
		wg.Wait()
	}()

	b.ReportAllocs()
	b.SetBytes(int64(len(msg) * conns))
	for b.Loop() {
		for _, s := range start {
			s <- struct{}{}
		}
		for range workers {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*conns*depth), "ns/msg")
}
