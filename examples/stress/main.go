// Command stress is the Silly tutorial's stress client: -c clients send -n
// messages each to an echo server, check every echo, and report messages per
// second and errors. Without -addr it starts a stream echo on -listen, -engine.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/server"
	"github.com/portside/portside/stream"
)

func echo(c *stream.Conn) {
	for line, err := c.ReadUntil('\n'); err == nil; line, err = c.ReadUntil('\n') {
		c.Write(line)
	}
}

func client(ctx context.Context, addr string, msgs int) (ok int) {
	c, err := stream.Dial(ctx, addr)
	if err != nil {
		return 0
	}
	defer c.Close()
	c.SetReadTimeout(30 * time.Second)
	for j := range msgs {
		msg := fmt.Sprintf("test message %d\n", j)
		if c.WriteString(msg) != nil {
			return ok
		}
		if got, err := c.ReadUntil('\n'); err != nil {
			return ok
		} else if string(got) == msg {
			ok++
		}
	}
	return ok
}

func main() {
	addr := flag.String("addr", "", "echo server to stress (default: start one)")
	listen := flag.String("listen", "127.0.0.1:0", "where the built-in server listens")
	eng := flag.String("engine", engine.Default, "built-in server's engine: "+strings.Join(engine.Names(), ", "))
	clients, msgs := flag.Int("c", 100, "concurrent clients"), flag.Int("n", 100, "messages per client")
	flag.Parse()
	ctx := context.Background()
	if *addr == "" {
		svc := &server.Service{Name: "echo", Handler: stream.Handler(echo), Stateless: true}
		srv, err := engine.Start(ctx, engine.Config{Engine: *eng, Addr: *listen, Service: svc})
		if err != nil {
			log.Fatal(err)
		}
		if engine.IsChild() { // under fork: serve the one connection, run no clients
			srv.Wait()
			return
		}
		*addr = srv.Addr().String()
	}
	ok, wg := new(atomic.Int64), new(sync.WaitGroup)
	start := time.Now()
	for range *clients {
		wg.Go(func() { ok.Add(int64(client(ctx, *addr, *msgs))) })
	}
	wg.Wait()
	d, errs := time.Since(start), int64(*clients**msgs)-ok.Load()
	fmt.Printf("%d messages, %d errors, %v, %.0f msg/s\n", ok.Load(), errs, d.Round(time.Millisecond), float64(ok.Load())/d.Seconds())
	if errs > 0 {
		os.Exit(1)
	}
}
