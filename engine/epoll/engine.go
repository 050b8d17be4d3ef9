// Package epoll is portside's fastest engine: a few event loops, one per
// core, each multiplexing many non-blocking sockets with Linux epoll.
//
// No goroutine is started per connection. Each loop owns one read buffer, so
// an idle connection owns none; output is queued per connection and flushed
// with writev (sendfile for WriteFile), with EPOLLOUT armed only while output
// is pending. Idle timeouts and the handlers' connection timers
// (Conn.SetTimer) run on timer wheels per loop, with no goroutine or
// time.Timer per connection. Writes, closes and a handler's requests (timer,
// pause, Drained) from other goroutines wake the owning loop through an
// eventfd; those a handler makes inside its own callback cost no wake-up at
// all.
//
// The engine cannot serve TLS: Serve returns server.ErrNoTLS for a service
// that asks for it.
package epoll

import (
	"errors"

	"github.com/portside/portside/server"
)

// ErrUnsupported is returned by Serve on systems without epoll.
var ErrUnsupported = errors.New("epoll: engine needs Linux")

// Options configure the engine.
type Options struct {
	// Loops is the number of event loops; 0 means GOMAXPROCS.
	Loops int
}

// Engine runs services on epoll event loops. It is safe to run several
// services on one Engine at once; each Serve has loops of its own.
type Engine struct {
	opts Options
}

// New returns an epoll engine. On systems other than Linux its Serve fails
// with ErrUnsupported.
func New(o Options) server.Engine { return &Engine{opts: o} }
