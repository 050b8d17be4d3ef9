// Command kv is a key-value store over lines, in the callback style:
// "SET k v" answers OK, "GET k" the value or NOT_FOUND, "DEL k" OK. The
// handler never blocks and owns no goroutine; the map is shared by every
// connection, so the service is not Stateless and fork refuses it.
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

type store struct {
	server.Base
	mu sync.Mutex
	m  map[string]string
}

// do runs one command and returns the answer line.
func (s *store) do(cmd string) string {
	f := strings.SplitN(cmd, " ", 3)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(f) == 3 && f[0] == "SET":
		s.m[f[1]] = f[2]
		return "OK"
	case len(f) == 2 && f[0] == "GET":
		if v, ok := s.m[f[1]]; ok {
			return "VALUE " + v
		}
		return "NOT_FOUND"
	case len(f) == 2 && f[0] == "DEL":
		delete(s.m, f[1])
		return "OK"
	}
	return "ERR want GET k, SET k v or DEL k"
}

// Data answers every complete line; a partial one is the engine's to keep.
func (s *store) Data(c server.Conn, in []byte) (int, error) {
	sc := line.NewScanner(in, 4096)
	for sc.Scan() {
		c.WriteString(s.do(string(sc.Line())) + "\n")
	}
	return sc.Used, sc.Err()
}

func main() {
	listen := flag.String("listen", "127.0.0.1:7070", "address to listen on")
	eng := flag.String("engine", engine.Default, "engine: "+strings.Join(engine.Names(), ", "))
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc := &server.Service{Name: "kv", Handler: &store{m: map[string]string{}}}
	err := engine.Serve(ctx, engine.Config{Engine: *eng, Addr: *listen, Service: svc,
		Logger: slog.Default(), Ready: func(a net.Addr) { fmt.Println("listening on", a) }})
	if err != nil {
		log.Fatal(err)
	}
}
