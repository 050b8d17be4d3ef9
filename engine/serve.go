package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/portside/portside/engine/fork"
	"github.com/portside/portside/server"
)

// Config is what Start needs to run one service.
type Config struct {
	// Engine names the engine (see Names); "" means Default, or ForTLS
	// for a service with TLS.
	Engine  string
	Options Options // the named engine's knobs
	// Use, if set, runs the service on this engine instead of a new one
	// named by Engine: services that share one engine (its loops, its
	// child processes) each Start with it.
	Use server.Engine
	// Addr is the TCP address to listen on; port 0 picks one (see
	// Server.Addr).
	Addr    string
	Service *server.Service // its Limits, Logger, Stats and TLS apply as given
	// Logger, if the service has none, gets the engine's and the core's
	// lines (nil: none).
	Logger *slog.Logger
	// Ready, if set, is called by Serve with the listening address once
	// connections are accepted (not in a fork child, whose parent has
	// called it already).
	Ready func(net.Addr)
}

// Server is a service started by Start.
type Server struct {
	addr net.Addr
	done chan struct{}
	err  error
}

// Start listens on cfg.Addr and serves cfg.Service in the background until
// ctx is cancelled; then it stops accepting, lets connections finish what
// they owe (bounded by the service's Limits.DrainTimeout) and closes them.
// An unknown engine or a failure to listen is returned now; a failure of
// the engine later by Wait. Under fork the program is started again for
// each connection and runs Start again, in the child, to serve it: a program
// that uses the fork engine starts its services the same way each time.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	s := cfg.Service
	if s == nil || s.Handler == nil {
		return nil, fmt.Errorf("engine: start: no service handler")
	}
	if s.Logger == nil {
		s.Logger = cfg.Logger
	}
	eng := cfg.Use
	if eng == nil {
		name := cfg.Engine
		if name == "" {
			name = Default
			if s.TLS != nil {
				name = ForTLS
			}
		}
		var err error
		if eng, err = New(name, cfg.Options); err != nil {
			return nil, err
		}
	}
	s.Init()
	ln, err := server.Listen(ctx, eng, "tcp", cfg.Addr, s.Name)
	if err != nil {
		return nil, err
	}
	srv := &Server{addr: ln.Addr(), done: make(chan struct{})}
	go func() {
		defer close(srv.done)
		if err := eng.Serve(ctx, ln, s); err != nil {
			srv.err = fmt.Errorf("%s: %w", s.Name, err)
		}
	}()
	return srv, nil
}

// Addr is where the server listens.
func (s *Server) Addr() net.Addr { return s.addr }

// Wait blocks until the server has stopped and returns why, if it failed:
// nil after a graceful stop.
func (s *Server) Wait() error {
	<-s.done
	return s.err
}

// Done is closed once the server has stopped.
func (s *Server) Done() <-chan struct{} { return s.done }

// Serve is Start and Wait in one call: it runs cfg.Service until ctx is
// cancelled and its connections are finished, calling cfg.Ready once it
// listens.
func Serve(ctx context.Context, cfg Config) error {
	srv, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	if cfg.Ready != nil && !fork.IsChild() {
		cfg.Ready(srv.Addr())
	}
	return srv.Wait()
}

// IsChild reports whether this process is a fork engine's child, started to
// serve one connection: a program prints its banner only when it is not.
func IsChild() bool { return fork.IsChild() }
