package chat

import (
	"errors"
	"sync"

	"github.com/portside/portside/server"
)

// ErrHeldTooLarge closes a connection that sent more than maxHeld bytes
// while its door was waiting for an answer (a nick claim).
var ErrHeldTooLarge = errors.New("chat: too much input while waiting")

// maxHeld bounds the input a Gate keeps while holding: as much as an
// engine keeps unconsumed by default.
const maxHeld = server.DefaultMaxInput

// Gate keeps a door's input in order with answers that arrive on other
// goroutines. A door that must wait for something (the hub's answer to a
// nick claim) calls Hold from within its input handling and returns; the
// engine's goroutine moves on, and what the client sends meanwhile is kept.
// When the answer comes, Resume runs the door's reaction to it and then
// hands it the input it kept, as if it had just arrived.
//
// The door's input handling and the reaction run under the Gate's mutex,
// one at a time, so they share the door's state without further locking.
// They must not block, and must not call the Gate's methods other than
// Hold. The zero Gate is ready to use.
type Gate struct {
	mu      sync.Mutex
	holding bool
	closed  bool
	err     error  // from data during Resume: the connection is closing
	held    []byte // input kept while holding, or a partial line left after
	brief   bool   // the hold is HoldBrief's
	eof     bool   // the client sent all it will: close once what is held is handled
}

// Data hands in to data, as a door's Handler.Data does, and returns what
// the engine must take as consumed. While the Gate holds, in is kept (up to
// 64 KiB in all; beyond, Data fails with ErrHeldTooLarge) and taken as
// consumed. If data calls Hold, data must return at once with the bytes it
// used, and Data keeps the rest. Input kept from before (a partial line
// left when a Resume ended) is handed to data ahead of in.
func (g *Gate) Data(in []byte, data func([]byte) (int, error)) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.err != nil:
		return 0, g.err
	case g.closed:
		return len(in), nil
	case g.holding:
		if len(g.held)+len(in) > maxHeld {
			return 0, ErrHeldTooLarge
		}
		g.held = append(g.held, in...)
		return len(in), nil
	case len(g.held) == 0:
		n, err := data(in)
		if err == nil && g.holding {
			g.held = append(g.held, in[n:]...)
			return len(in), nil
		}
		return n, err
	}
	// A partial line is kept: hand it to data with in behind it. Once data
	// has used what was kept, the engine keeps the rest of in again.
	kept := len(g.held)
	g.held = append(g.held, in...)
	n, err := data(g.held)
	switch {
	case err != nil:
		return 0, err
	case !g.holding && n >= kept:
		g.held = nil
		return n - kept, nil
	case len(g.held)-n > maxHeld:
		return 0, ErrHeldTooLarge
	}
	g.keep(n)
	return len(in), nil
}

// Hold stops the Gate handing input to the door until Resume. Call it only
// from within the data function given to Data or Resume.
func (g *Gate) Hold() { g.holding = true }

// HoldBrief is Hold for an answer that comes soon whatever the client does
// (its message's delivery): a client that shuts its sending side meanwhile
// still has the input held handled (see EOF). A long wait (a nick claim
// from a cluster) is Hold's: a client gone meanwhile is closed at once.
func (g *Gate) HoldBrief() {
	g.holding = true
	g.brief = true
}

// Resume ends a Hold: unless the Gate was closed, it runs then (the door's
// reaction to the answer it waited for), then hands data the input kept,
// until it is used up, data holds again, or what is left is a partial line.
// An error from data closes c, writing nothing more. Resume may be called
// from any goroutine; after Close it does nothing.
func (g *Gate) Resume(c server.Conn, then func(), data func([]byte) (int, error)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.err != nil {
		return
	}
	g.holding, g.brief = false, false
	then()
	if err := g.drainLocked(data); err != nil {
		g.err = err
		g.held = nil
		c.Close()
		return
	}
	if g.eof && !g.holding {
		c.Close()
	}
}

// EOF is a door's ReadEOF: the client has sent all it will (a half-close,
// as nc -N does after its last line). Input held by HoldBrief is still
// handled when the answer comes, and c closed after; otherwise c is closed
// now. rest, the input the engine kept, is a partial line: it is dropped
// as an engine would, unless the Gate holds.
func (g *Gate) EOF(c server.Conn, rest []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.eof = true
	if g.holding && g.brief && !g.closed && g.err == nil {
		g.held = append(g.held, rest...)
		return
	}
	c.Close()
}

// Close marks the Gate closed and runs f (the door's goodbye to the hub)
// under its mutex: a Resume that comes later runs nothing. Call it from the
// door's Handler.Close.
func (g *Gate) Close(f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	g.held = nil
	f()
}

// drainLocked hands the kept input to data until it holds again or stops
// taking any. g.mu is held.
func (g *Gate) drainLocked(data func([]byte) (int, error)) error {
	used := 0
	for used < len(g.held) && !g.holding {
		n, err := data(g.held[used:])
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		used += n
	}
	g.keep(used)
	return nil
}

// keep drops the first n bytes of what is kept, moving the rest to the
// front so that a long wait does not pin what was already handled.
func (g *Gate) keep(n int) {
	if n >= len(g.held) {
		g.held = nil
		return
	}
	g.held = append(g.held[:0], g.held[n:]...)
}
