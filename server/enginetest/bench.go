package enginetest

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/portside/portside/server"
)

// Benchmark measures an engine echoing 64-byte messages over loopback: one
// op is one message echoed. Sub-benchmarks vary the connections and the
// pipelining depth (messages in flight per connection), named like
// conns=50/depth=16, so engines compare with benchstat.
func Benchmark(b *testing.B, newEngine func() server.Engine) {
	for _, conns := range []int{1, 50, 1000} {
		for _, depth := range []int{1, 16} {
			b.Run(fmt.Sprintf("conns=%d/depth=%d", conns, depth), func(b *testing.B) {
				benchEcho(b, newEngine(), conns, depth)
			})
		}
	}
}

// rawEcho needs only Data: Open and Close come from server.Base.
type rawEcho struct{ server.Base }

func (rawEcho) Data(c server.Conn, in []byte) (int, error) {
	c.Write(in)
	return len(in), nil
}

func benchEcho(b *testing.B, eng server.Engine, conns, depth int) {
	const size = 64
	s := &server.Service{Name: "bench", Handler: rawEcho{}, Stateless: true}
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := server.Listen(ctx, eng, "tcp", "127.0.0.1:0", s.Name)
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- eng.Serve(ctx, ln, s) }()
	defer func() {
		cancel()
		<-served
	}()
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		c.(*net.TCPConn).SetNoDelay(true)
		defer c.Close()
		cs[i] = c
	}
	b.ReportAllocs()
	b.SetBytes(size)
	var left atomic.Int64
	left.Store(int64(b.N))
	b.ResetTimer()
	var wg sync.WaitGroup
	var failed atomic.Value
	for _, c := range cs {
		wg.Go(func() {
			out := make([]byte, size*depth)
			in := make([]byte, size*depth)
			for i := range out {
				out[i] = byte(i)
			}
			for {
				n := int(min(left.Add(-int64(depth))+int64(depth), int64(depth)))
				if n <= 0 {
					return
				}
				if _, err := c.Write(out[:n*size]); err != nil {
					failed.Store(err)
					return
				}
				if _, err := io.ReadFull(c, in[:n*size]); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
