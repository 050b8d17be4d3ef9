package goroutine

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/portside/portside/server"
)

// run is the reader goroutine: it owns the input buffer, calls the handler
// and is the only one to tear the connection down.
func (c *conn) run() {
	defer c.teardown()
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := tlsHandshake(c, tc); err != nil {
			c.abort(fmt.Errorf("tls handshake: %w", err))
			return
		}
	}
	if !c.call(func() { c.h.Open(c) }) {
		return
	}

	idle := c.s.Limits.IdleTimeout
	if idle > 0 {
		c.nc.SetReadDeadline(time.Now().Add(idle))
	}
	buf := make([]byte, readSize)
	pending := 0
	unhanded := false // buf[:pending] holds bytes Data has not seen
	for {
		st, resumed := c.readState()
		switch st {
		case closing:
			return
		case draining:
			if !c.waitClose(false) {
				return
			}
			// The Drainer resumed reading to finish what it started.
			c.mu.Lock()
			resumed = resumed || c.resumed
			c.resumed = false
			c.mu.Unlock()
		}
		if resumed {
			// The handler resumed reading: it gets its kept input again
			// without waiting for more.
			unhanded = unhanded || pending > 0
		}
		var n int
		var err error
		if !unhanded {
			n, err = c.nc.Read(buf[pending:])
			if n > 0 {
				c.touch()
				c.s.Stats.BytesIn.Add(int64(n))
				pending += n
				unhanded = true
			}
			if n > 0 && err == nil && c.readingPaused() {
				continue // read as the pause began: handed on resume
			}
		}
		if unhanded {
			unhanded = false
			var used int
			var herr error
			if !c.call(func() { used, herr = c.h.Data(c, buf[:pending]) }) {
				return
			}
			if herr == nil && (used < 0 || used > pending) {
				herr = fmt.Errorf("goroutine: handler consumed %d of %d bytes", used, pending)
			}
			if herr != nil {
				c.closeWith(&server.HandlerError{Err: herr})
				return
			}
			pending = copy(buf, buf[used:pending])
			if pending > c.s.Limits.MaxInput {
				c.closeWith(server.ErrInputTooLarge)
				return
			}
			if pending == len(buf) {
				buf = append(buf, make([]byte, len(buf))...)[:2*len(buf)]
			}
		}
		if err == nil {
			continue
		}
		switch {
		case errors.Is(err, io.EOF):
			c.readEOF(buf[:pending])
			return
		case isTimeout(err):
			if c.extendIdle() {
				continue
			}
		default:
			c.mu.Lock()
			aborted := c.aborted
			c.mu.Unlock()
			if !aborted {
				c.abort(err)
			}
			return
		}
	}
}

func (c *conn) readingPaused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readPaused
}

// readState reports the state, and whether the handler resumed reading
// since last asked. It pauses while output is above the high-water mark (a
// client that sends but never reads stops being read, and TCP flow control
// pushes back on it) and while the handler has paused reading.
func (c *conn) readState() (state, bool) {
	for {
		c.mu.Lock()
		st := c.st
		// A draining connection the handler resumed reads as an open one.
		reads := st == open || st == draining && c.drainCalled && !c.readPaused
		if !reads || c.queued <= c.s.Limits.HighWater && !c.readPaused {
			c.paused = false
			resumed := c.resumed
			c.resumed = false
			c.mu.Unlock()
			return st, resumed
		}
		c.paused = true
		c.mu.Unlock()
		if !c.wait() {
			c.abort(server.ErrIdleTimeout)
			return closing, false
		}
	}
}

// wait blocks until the reader is woken, and reports false if the
// connection made no progress for the idle timeout meanwhile.
func (c *conn) wait() bool {
	idle := c.s.Limits.IdleTimeout
	if idle <= 0 {
		<-c.wakeReader
		return true
	}
	for {
		left := time.Until(time.Unix(0, c.lastActive.Load()).Add(idle))
		if left <= 0 {
			return false
		}
		t := time.NewTimer(left)
		select {
		case <-c.wakeReader:
			t.Stop()
			return true
		case <-t.C:
		}
	}
}

// extendIdle is called when a read deadline passed: it decides between an
// interruption (Close, drain), progress elsewhere (output flowing: read on),
// and a real idle timeout.
func (c *conn) extendIdle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st == closing || c.st == draining && (!c.drainCalled || c.readPaused) {
		return true // the loop head sees the new state
	}
	idle := c.s.Limits.IdleTimeout
	if idle <= 0 {
		c.nc.SetReadDeadline(time.Time{})
		return true
	}
	deadline := time.Unix(0, c.lastActive.Load()).Add(idle)
	if time.Until(deadline) > 0 {
		c.nc.SetReadDeadline(deadline)
		return true
	}
	c.st = closing
	c.reason = server.ErrIdleTimeout
	return false
}

// readEOF handles the peer's half-close.
func (c *conn) readEOF(rest []byte) {
	eh, ok := c.h.(server.EOFHandler)
	if !ok {
		c.closeWith(nil)
		return
	}
	if !c.call(func() { eh.ReadEOF(c, rest) }) {
		return
	}
	c.waitClose(true)
}

// waitClose waits, not reading, for the handler to close the connection,
// calling Drain on the way if shutdown is asked. Drain is called with
// reading paused, as by PauseRead; waitClose reports true if the handler
// resumed it (and the peer has not shut its side, eof), for the reader to
// read on while draining.
func (c *conn) waitClose(eof bool) (readOn bool) {
	for {
		c.mu.Lock()
		st, call := c.st, c.st == draining && !c.drainCalled
		if call {
			c.drainCalled = true
			c.readPaused = true
		}
		readOn = !eof && st == draining && !call && !c.readPaused
		c.mu.Unlock()
		switch {
		case st == closing:
			return false
		case readOn:
			return true
		case call:
			d, ok := c.h.(server.Drainer)
			if !ok {
				c.closeWith(nil)
				return false
			}
			if !c.call(func() { d.Drain(c) }) {
				return false
			}
			continue
		}
		if !c.wait() {
			c.closeWith(server.ErrIdleTimeout)
			return false
		}
	}
}

// teardown flushes (unless aborted), half-closes, lingers briefly for the
// peer's FIN, closes the socket and tells the handler, exactly once.
func (c *conn) teardown() {
	// No callback runs from here on: one under way finishes first.
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.mu.Lock()
	c.st = closing
	c.stopTimerLocked()
	c.wantDrained = false
	for !c.aborted && (c.writing || len(c.q) > 0) {
		if !c.writing {
			c.writing = true
			c.mu.Unlock()
			c.flush()
		} else {
			c.mu.Unlock()
			<-c.wakeReader
		}
		c.mu.Lock()
	}
	aborted, reason, q := c.aborted, c.reason, c.q
	c.q = nil
	c.mu.Unlock()
	close(c.done)
	for _, g := range q {
		if g.f != nil {
			g.f.Close()
		}
	}
	if c.drainTimer != nil {
		c.drainTimer.Stop()
	}
	if !aborted {
		c.linger()
	}
	c.nc.Close()
	c.ended = true
	c.s.Closed(c, reason)
}

type closeWriter interface{ CloseWrite() error }

func (c *conn) linger() {
	cw, ok := c.nc.(closeWriter)
	if !ok || cw.CloseWrite() != nil {
		return
	}
	// As nginx's lingering close: read and discard until the peer's FIN,
	// a quiet spell, or a total bound, whichever comes first.
	end := time.Now().Add(lingerTime)
	var buf [16 << 10]byte
	for {
		now := time.Now()
		if !now.Before(end) {
			return
		}
		c.nc.SetReadDeadline(earlier(end, now.Add(lingerQuiet)))
		if _, err := c.nc.Read(buf[:]); err != nil {
			return
		}
	}
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
