// Package uring is an engine on Linux io_uring: event loops, one per core
// as in the epoll engine, each with its own ring, where the kernel does the
// reads and writes and the loop reaps their completions.
//
// Each loop queues its requests through a turn and submits them all, and
// waits for completions, in one io_uring_enter call per turn. The loop's
// goroutine keeps its thread, the ring's one submitter, so that the kernel
// defers the work completing requests to those waits (DEFER_TASKRUN). Loop 0 keeps
// a multishot accept on the listener and deals connections round-robin.
// Every reading connection has one receive in flight that takes its
// buffer from the loop's ring of provided buffers when data arrives, so a
// waiting connection owns no buffer; each connection has at most one send
// in flight, of its queued chunks (SEND, or SENDMSG for several), or of a
// file's next bytes, read into a buffer first. Writes, closes and a
// handler's requests from other goroutines wake the loop through an
// eventfd the ring keeps a read on. Idle timeouts and connection timers
// run on timer wheels per loop, as in the epoll engine, and the next
// deadline bounds the wait.
//
// The engine needs Linux 5.19 or later (multishot accept, provided-buffer
// rings) with io_uring enabled. Where it is not, Serve fails at once with
// an error wrapping ErrUnavailable that says why. It cannot serve TLS:
// Serve returns server.ErrNoTLS for a service that asks for it.
package uring

import (
	"github.com/portside/portside/server"
)

// Options configure the engine.
type Options struct {
	// Loops is the number of event loops; 0 means GOMAXPROCS.
	Loops int
}

// Engine runs services on io_uring event loops. It is safe to run several
// services on one Engine at once; each Serve has loops of its own.
type Engine struct {
	opts Options
}

// New returns an io_uring engine. Where io_uring is unavailable its Serve
// fails with an error wrapping ErrUnavailable.
func New(o Options) server.Engine { return &Engine{opts: o} }
