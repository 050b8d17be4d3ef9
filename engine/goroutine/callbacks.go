package goroutine

import (
	"time"
	"unsafe"

	"github.com/portside/portside/server"
)

// The handler's callbacks come from the reader goroutine (Open, Data,
// ReadEOF, Drain), from a timer's goroutine (Timer) and from a short-lived
// goroutine (Drained). call runs each under hmu, so a connection's callbacks
// never overlap, and none runs once teardown has begun.

// call runs fn as one handler callback: in the connection's order,
// bracketed by enter and leave so that its output is written at its end,
// and with a panic turned into the connection's close. It reports false if
// the callback did not run to its end (the connection is gone, or fn
// panicked).
func (c *conn) call(fn func()) (ok bool) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if c.ended {
		return false
	}
	c.enter()
	defer func() {
		if v := recover(); v != nil {
			c.mu.Lock()
			c.inHandler = false
			c.mu.Unlock()
			c.abort(server.Recovered(v))
			ok = false
			return
		}
		c.leave()
	}()
	fn()
	return true
}

// WriteString implements server.Conn. Write copies and never keeps or
// changes b, so the string's bytes can be handed over as they are.
func (c *conn) WriteString(s string) error {
	return c.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// SetTimer implements server.Conn with a time.Timer, whose goroutine waits
// its turn among the connection's callbacks.
func (c *conn) SetTimer(d time.Duration) {
	if c.th == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tgen++
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if d <= 0 || c.st == closing {
		return
	}
	gen := c.tgen
	c.timer = time.AfterFunc(d, func() { c.fireTimer(gen) })
}

func (c *conn) fireTimer(gen uint64) {
	c.call(func() {
		c.mu.Lock()
		due := c.tgen == gen && c.st != closing
		if due {
			c.timer = nil
		}
		c.mu.Unlock()
		if due {
			c.th.Timer(c)
		}
	})
}

// stopTimerLocked cancels the timer for good; c.mu is held.
func (c *conn) stopTimerLocked() {
	c.tgen++
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// PauseRead implements server.Conn. A reader blocked in Read is woken to
// see it; bytes that Read returns after the pause wait, unhanded, for
// ResumeRead.
func (c *conn) PauseRead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readPaused || c.st == closing {
		return
	}
	c.readPaused = true
	if !c.inHandler {
		c.nc.SetReadDeadline(aLongTimeAgo)
	}
}

// ResumeRead implements server.Conn.
func (c *conn) ResumeRead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.readPaused {
		return
	}
	c.readPaused = false
	c.resumed = true
	signal(c.wakeReader)
}

// NotifyDrained implements server.Conn.
func (c *conn) NotifyDrained(mark int) {
	if c.dh == nil {
		return
	}
	c.mu.Lock()
	c.wantDrained, c.drainMark = true, max(mark, 0)
	c.drainedLocked()
	c.mu.Unlock()
}

// drainedLocked calls Drained, from a goroutine of its own that waits its
// turn among the callbacks, if it was asked for and the queue is down to
// the mark. c.mu is held.
func (c *conn) drainedLocked() {
	if !c.wantDrained || c.queued > c.drainMark {
		return
	}
	c.wantDrained = false
	go c.call(func() {
		c.mu.Lock()
		st := c.st
		c.mu.Unlock()
		if st != closing {
			c.dh.Drained(c)
		}
	})
}
