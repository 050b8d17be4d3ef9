// Package readiness holds portside's two teaching engines built on the
// classic readiness calls: select(2) and poll(2). Each runs one event loop,
// a goroutine locked to its OS thread, over non-blocking sockets: the loop
// asks the kernel which of its descriptors are ready, reads and writes
// those, and asks again.
//
// The two differ only in the waiter, the few lines that put the question to
// the kernel (select.go, poll.go); the loop, the connections' output queues
// (writev, sendfile for WriteFile), the timer wheels for idle timeouts and
// Conn.SetTimer, lingering close, graceful shutdown and the limits are
// shared, and modelled on the epoll engine's. What each waiter costs is the
// lesson:
//
//   - select passes the kernel bitmaps of FD_SETSIZE (1024) bits, so a
//     descriptor at or above 1024 cannot be watched at all: such a
//     connection is turned away with ErrDescriptorLimit, in the handler's
//     Refuse words, counted in Stats.ConnsRefused. Both sides scan the
//     bitmaps up to the highest descriptor on every wake-up.
//   - poll has no ceiling, but hands the kernel the whole pollfd array on
//     every wake-up and the loop scans all of it for the few that are
//     ready: O(connections) per wake-up, idle ones included.
//
// Writes, closes and a handler's requests (timer, pause, Drained) from
// other goroutines wake the loop through an eventfd, which is in the set
// with the listener. Neither engine serves TLS: Serve returns
// server.ErrNoTLS for a service that asks for it.
package readiness

import (
	"errors"

	"github.com/portside/portside/server"
)

// FDSetSize is the number of descriptors select(2)'s bitmaps hold
// (FD_SETSIZE): select can watch descriptors 0 to FDSetSize-1 only.
const FDSetSize = 1024

// ErrDescriptorLimit is the reason a connection is refused by the select
// engine when its descriptor is FDSetSize or above, and Serve's error when
// the listener's or the wake-up descriptor is.
var ErrDescriptorLimit = errors.New("select(2) watches descriptors below 1024")

// ErrUnsupported is returned by Serve on systems other than Linux.
var ErrUnsupported = errors.New("readiness: engine needs Linux")

// kind names a waiter.
type kind int

const (
	kindSelect kind = iota
	kindPoll
)

func (k kind) String() string {
	if k == kindSelect {
		return "select"
	}
	return "poll"
}

// Engine runs services on one select(2) or poll(2) event loop. It is safe
// to run several services on one Engine at once; each Serve has a loop of
// its own.
type Engine struct {
	kind kind
}

// NewSelect returns an engine whose loop waits in select(2).
func NewSelect() server.Engine { return &Engine{kind: kindSelect} }

// NewPoll returns an engine whose loop waits in poll(2).
func NewPoll() server.Engine { return &Engine{kind: kindPoll} }
