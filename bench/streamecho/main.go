// Command streamecho is the stream package's echo, measured against the
// callback echo (portside echo) and the stdlib echo (bench/stdecho): a
// function per connection that writes back whatever it reads, under any
// engine.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/server"
	"github.com/portside/portside/stream"
)

func echo(c *stream.Conn) {
	for {
		b, err := c.ReadAvailable()
		if err != nil || c.Write(b) != nil {
			return
		}
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9002", "address to listen on")
	eng := flag.String("engine", engine.Default, "engine")
	loops := flag.Int("loops", 0, "epoll: event loops (0: one per CPU)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc := &server.Service{Name: "streamecho", Handler: stream.Handler(echo), Stateless: true,
		Limits: server.Limits{MaxConns: 100000}}
	err := engine.Serve(ctx, engine.Config{Engine: *eng, Options: engine.Options{Loops: *loops}, Addr: *listen,
		Service: svc, Ready: func(a net.Addr) { fmt.Println("listening on", a) }})
	if err != nil {
		log.Fatal(err)
	}
}
