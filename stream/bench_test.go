package stream_test

import (
	"context"
	"net"
	"testing"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/server"
	"github.com/portside/portside/stream"
)

// BenchmarkEcho is a ping-pong of 64-byte messages on one connection to a
// stream echo (ReadAvailable, Write), per in-process engine: b.N round
// trips. Its profile shows what the stream style adds to a handler.
func BenchmarkEcho(b *testing.B) {
	for _, eng := range []string{"epoll", "goroutine"} {
		b.Run(eng, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			echo := stream.Handler(func(c *stream.Conn) {
				for {
					p, err := c.ReadAvailable()
					if err != nil || c.Write(p) != nil {
						return
					}
				}
			})
			srv, err := engine.Start(ctx, engine.Config{Engine: eng, Options: engine.Options{Loops: 1}, Addr: "127.0.0.1:0",
				Service: &server.Service{Handler: echo}})
			if err != nil {
				b.Fatal(err)
			}
			nc, err := net.Dial("tcp", srv.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			msg, buf := make([]byte, 64), make([]byte, 64)
			b.SetBytes(64)
			for b.Loop() {
				nc.Write(msg)
				for got := 0; got < len(buf); {
					n, err := nc.Read(buf[got:])
					if err != nil {
						b.Fatal(err)
					}
					got += n
				}
			}
		})
	}
}
