// Command kv-stream is examples/kv in the stream style: the same commands
// ("SET k v", "GET k", "DEL k"), read by a function per connection that runs
// on its own goroutine and reads line after line. The map is shared, so the
// service is not Stateless and fork refuses it.
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
	"github.com/portside/portside/server"
	"github.com/portside/portside/stream"
)

var (
	mu sync.Mutex
	m  = map[string]string{}
)

// do runs one command and returns the answer line.
func do(cmd string) string {
	f := strings.SplitN(cmd, " ", 3)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case len(f) == 3 && f[0] == "SET":
		m[f[1]] = f[2]
		return "OK"
	case len(f) == 2 && f[0] == "GET":
		if v, ok := m[f[1]]; ok {
			return "VALUE " + v
		}
		return "NOT_FOUND"
	case len(f) == 2 && f[0] == "DEL":
		delete(m, f[1])
		return "OK"
	}
	return "ERR want GET k, SET k v or DEL k"
}

func serve(c *stream.Conn) {
	for {
		cmd, err := c.ReadLine() // a line beyond Limits.MaxInput ends the connection
		if err != nil {
			return
		}
		if err := c.WriteString(do(string(cmd)) + "\n"); err != nil {
			return
		}
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:7071", "address to listen on")
	eng := flag.String("engine", engine.Default, "engine: "+strings.Join(engine.Names(), ", "))
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc := &server.Service{Name: "kv-stream", Handler: stream.Handler(serve), Limits: server.Limits{MaxInput: 4096}}
	err := engine.Serve(ctx, engine.Config{Engine: *eng, Addr: *listen, Service: svc,
		Logger: slog.Default(), Ready: func(a net.Addr) { fmt.Println("listening on", a) }})
	if err != nil {
		log.Fatal(err)
	}
}
