// Package iterative is the simplest portside engine: it accepts one
// connection, serves it to the end, then accepts the next — the first echo
// server of every network-programming guide.
//
// While one connection is served the next clients wait in the kernel's
// accept queue: they connect, but nobody answers until the connection before
// them closes. That is the point of the engine; it shows why servers need
// concurrency and gives the other engines a baseline.
//
// Reads and handler calls run on the goroutine that called Serve. Conn.Write
// still never blocks: each connection has a writer goroutine that drains its
// queue, so handler goroutines (timers, background work) may write at any
// time. TLS is supported.
package iterative

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/portside/portside/server"
)

// Engine serves one connection at a time. The zero value is ready to use.
type Engine struct{}

// Serve accepts and serves connections one after another until ctx is
// cancelled, then drains the connection being served (bounded by
// Limits.DrainTimeout) and returns nil. It returns an error if the listener
// fails. Serve closes ln.
func (e *Engine) Serve(ctx context.Context, ln net.Listener, s *server.Service) error {
	s.Init()
	var (
		mu  sync.Mutex
		cur *conn
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		c := cur
		mu.Unlock()
		if c != nil {
			c.shutdown()
		}
	})
	defer stop()
	defer ln.Close()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if isTemporary(err) {
				// Out of file descriptors and the like: wait rather than spin.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.Logger.Warn("accept", "service", s.Name, "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("iterative: accept: %w", err)
		}
		backoff = 0
		if reason := s.Admit(nc.RemoteAddr()); reason != nil {
			var rc net.Conn = nc
			if s.TLS != nil {
				rc = tls.Server(nc, s.TLS)
			}
			Refuse(rc, s.Refusal(reason))
			continue
		}
		c := newConn(nc, s)
		mu.Lock()
		cur = c
		mu.Unlock()
		if ctx.Err() != nil {
			c.shutdown() // accepted as the shutdown began
		}
		c.serve()
		mu.Lock()
		cur = nil
		mu.Unlock()
	}
}

func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary() && !errors.Is(err, net.ErrClosed)
}

// Refuse writes msg to a connection turned away, shuts the write side and
// closes it, reading and dropping the peer's input for a moment so that the
// close does not reset the connection before msg is read. It takes at most
// about a second.
func Refuse(nc net.Conn, msg []byte) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(linger))
	if len(msg) > 0 {
		if _, err := nc.Write(msg); err != nil {
			return
		}
	}
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	var buf [512]byte
	for {
		if _, err := nc.Read(buf[:]); err != nil {
			return
		}
	}
}
