// Command room is a broadcast chat room in the callback style: every line
// anyone sends goes to everyone else, prefixed with the sender's number.
// Writes never block, so one slow member cannot hold up the others: the
// engine queues for each and cuts off one that falls too far behind.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/proto/line"
	"github.com/portside/portside/server"
)

type room struct {
	mu      sync.Mutex
	members map[server.Conn]bool
}

func (r *room) Open(c server.Conn) {
	r.mu.Lock()
	r.members[c] = true
	r.mu.Unlock()
	c.WriteString(fmt.Sprintf("you are %d\n", c.ID()))
}

func (r *room) Close(c server.Conn, _ error) {
	r.mu.Lock()
	delete(r.members, c)
	r.mu.Unlock()
}

func (r *room) Data(c server.Conn, in []byte) (int, error) {
	sc := line.NewScanner(in, 4096)
	for sc.Scan() {
		msg := fmt.Sprintf("%d: %s\n", c.ID(), sc.Line())
		r.mu.Lock()
		for m := range r.members {
			if m != c {
				m.WriteString(msg)
			}
		}
		r.mu.Unlock()
	}
	return sc.Used, sc.Err()
}

func main() {
	listen := flag.String("listen", "127.0.0.1:7072", "address to listen on")
	eng := flag.String("engine", engine.Default, "engine: "+strings.Join(engine.Names(), ", "))
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc := &server.Service{Name: "room", Handler: &room{members: map[server.Conn]bool{}}}
	err := engine.Serve(ctx, engine.Config{Engine: *eng, Addr: *listen, Service: svc,
		Logger: slog.Default(), Ready: func(a net.Addr) { fmt.Println("listening on", a) }})
	if err != nil {
		log.Fatal(err)
	}
}
