// Command silly-echo is the Silly framework's echo tutorial in Go: a
// function per connection reads a line and writes it back, and three test
// clients each send five random messages and check every echo. It then
// serves on (try telnet) until interrupted.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/server"
	"github.com/portside/portside/stream"
)

func echo(c *stream.Conn) {
	for {
		line, err := c.ReadUntil('\n') // like Silly's conn:read("\n")
		if err != nil {
			return // io.EOF, or why the engine closed it
		}
		if err := c.Write(line); err != nil {
			return
		}
	}
}

func client(ctx context.Context, addr string, i int) error {
	c, err := stream.Dial(ctx, addr) // Silly's tcp.connect
	if err != nil {
		return err
	}
	defer c.Close()
	for range 5 {
		msg := rand.Text()[:5] + "\n"
		c.WriteString(msg)
		got, err := c.ReadUntil('\n')
		if err != nil || string(got) != msg {
			return fmt.Errorf("client %d: sent %q, got %q (%v)", i, msg, got, err)
		}
	}
	return nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9999", "address to listen on")
	eng := flag.String("engine", engine.Default, "engine: "+strings.Join(engine.Names(), ", "))
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc := &server.Service{Name: "silly-echo", Handler: stream.Handler(echo), Stateless: true}
	err := engine.Serve(ctx, engine.Config{Engine: *eng, Addr: *listen, Service: svc, Ready: func(a net.Addr) {
		fmt.Println("listening on", a)
		go func() {
			var wg sync.WaitGroup
			for i := 1; i <= 3; i++ {
				wg.Go(func() {
					if err := client(ctx, a.String(), i); err != nil {
						log.Fatal(err)
					}
				})
			}
			wg.Wait()
			fmt.Println("3 clients × 5 messages echoed and checked")
		}()
	}})
	if err != nil {
		log.Fatal(err)
	}
}
