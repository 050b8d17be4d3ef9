// Package goroutine is the engine that serves each connection on its own
// goroutine, on top of Go's netpoller: the idiomatic Go server, and the
// engine TLS services run on by default (iterative and fork, which serve
// connections with its code, serve TLS too; epoll does not).
//
// Each connection has a reader goroutine that reads, calls the handler and
// then writes the handler's output itself, so a request/response exchange
// costs no goroutine switch. Output queued from other goroutines (a chat
// broadcast) is written by a second goroutine, started the first time it is
// needed. The reader is also the only goroutine that tears a connection
// down, which is what makes Handler.Close exactly-once. A connection's timer
// (Conn.SetTimer) is a time.Timer, and Drained runs on a goroutine of its
// own; every callback takes the connection's handler lock, so they never
// overlap the reader's.
package goroutine

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

// Engine is the goroutine-per-connection engine. The zero value is ready.
type Engine struct{}

// New returns the engine.
func New() server.Engine { return &Engine{} }

// Serve implements server.Engine.
func (e *Engine) Serve(ctx context.Context, ln net.Listener, s *server.Service) error {
	s.Init()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var wg sync.WaitGroup
	var err error
	var delay time.Duration
	for {
		nc, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(aerr, &ne) && ne.Timeout() || isTemporary(aerr) {
				// Out of file descriptors, say: back off instead of
				// spinning, as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.Logger.Warn("accept", "service", s.Name, "err", aerr, "retry_in", delay)
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
				continue
			}
			err = fmt.Errorf("accept: %w", aerr)
			cancel()
			break
		}
		delay = 0
		if reason := s.Admit(nc.RemoteAddr()); reason != nil {
			wg.Go(func() { Refuse(nc, s, reason) })
			continue
		}
		wg.Go(func() { ServeConn(ctx, nc, s) })
	}
	ln.Close()
	wg.Wait()
	return err
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// Refuse writes the service's refusal for reason to nc, best effort and
// bounded in time, and closes it. The connection must not have been
// admitted.
func Refuse(nc net.Conn, s *server.Service, reason error) {
	// A TLS peer could not read plain words; it sees the connection close.
	if msg := s.Refusal(reason); len(msg) > 0 && s.TLS == nil {
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		nc.Write(msg)
		if cw, ok := nc.(closeWriter); ok {
			cw.CloseWrite()
		}
	}
	nc.Close()
}

// ServeConn serves one admitted connection to its end and returns after
// Handler.Close has been called. When ctx is cancelled the connection is
// drained (Drainer, or flushed and closed), and closed with
// server.ErrShutdown if that takes longer than Limits.DrainTimeout. It is the
// building block of the iterative and fork engines too. s must have been
// initialised with Service.Init.
func ServeConn(ctx context.Context, nc net.Conn, s *server.Service) {
	c := newConn(nc, s)
	stop := context.AfterFunc(ctx, c.startDrain)
	c.run()
	stop()
}

// tlsHandshake bounds the handshake so a silent client cannot hold a
// connection slot without ever sending a ClientHello.
func tlsHandshake(c *conn, tc *tls.Conn) error {
	d := min(c.s.Limits.IdleTimeout, 10*time.Second)
	if d <= 0 {
		d = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return tc.HandshakeContext(ctx)
}
