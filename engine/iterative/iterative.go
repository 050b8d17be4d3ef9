// Package iterative is the simplest portside engine: it accepts one
// connection, serves it to the end, then accepts the next — the first echo
// server of every network-programming guide.
//
// While one connection is served the next clients wait in the kernel's
// accept queue: they connect, but nobody answers until the connection before
// them closes. That is the point of the engine; it shows why servers need
// concurrency and gives the other engines a baseline.
//
// Reads and handler calls run on the goroutine that called Serve, with the
// goroutine engine's per-connection code (goroutine.ServeConn) run inline.
// Conn.Write still never blocks: output queued from other goroutines is
// written by a writer goroutine of the connection. TLS is supported.
package iterative

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/portside/portside/engine/goroutine"
	"github.com/portside/portside/server"
)

// Engine serves one connection at a time. The zero value is ready to use.
type Engine struct{}

// New returns the engine.
func New() server.Engine { return &Engine{} }

// Serve accepts and serves connections one after another until ctx is
// cancelled, then drains the connection being served (bounded by
// Limits.DrainTimeout) and returns nil. It returns an error if the listener
// fails. Serve closes ln.
func (e *Engine) Serve(ctx context.Context, ln net.Listener, s *server.Service) error {
	s.Init()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()

	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if isTemporary(err) {
				// Out of file descriptors, say: back off instead of spinning.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.Logger.Warn("accept", "service", s.Name, "err", err, "retry_in", delay)
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
				continue
			}
			return fmt.Errorf("iterative: accept: %w", err)
		}
		delay = 0
		if reason := s.Admit(nc.RemoteAddr()); reason != nil {
			goroutine.Refuse(nc, s, reason)
			continue
		}
		// Inline: the next Accept waits until this connection is gone.
		goroutine.ServeConn(ctx, nc, s)
	}
}

func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary() && !errors.Is(err, net.ErrClosed)
}
