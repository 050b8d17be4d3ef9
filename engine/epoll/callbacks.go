//go:build linux

package epoll

import (
	"time"
	"unsafe"

	"github.com/portside/portside/engine/internal/wheel"
	"github.com/portside/portside/server"
)

// Handler callbacks run on the connection's loop, one at a time. Each is
// made through one of the call methods below, which mark the connection as
// the one in a callback (its own writes then need no wake-up) and turn a
// panic into the connection's close: ok is false if the handler panicked,
// and c is then finished.

func (l *loop) callOpen(c *conn) (ok bool) {
	l.cur.Store(c.token())
	defer func() {
		l.cur.Store(0)
		if v := recover(); v != nil {
			l.finish(c, server.Recovered(v), false)
		}
	}()
	l.r.h.Open(c)
	return true
}

func (l *loop) callData(c *conn, in []byte) (k int, err error, ok bool) {
	l.cur.Store(c.token())
	defer func() {
		l.cur.Store(0)
		if v := recover(); v != nil {
			c.releaseInput()
			l.finish(c, server.Recovered(v), false)
		}
	}()
	k, err = l.r.h.Data(c, in)
	return k, err, true
}

// call runs one of the other callbacks.
func (l *loop) call(c *conn, fn func(server.Conn)) (ok bool) {
	l.cur.Store(c.token())
	defer func() {
		l.cur.Store(0)
		if v := recover(); v != nil {
			l.finish(c, server.Recovered(v), false)
		}
	}()
	fn(c)
	return true
}

// WriteString queues a copy of s. Write copies and never keeps or changes
// b, so the string's bytes can be handed over as they are.
func (c *conn) WriteString(s string) error {
	return c.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// SetTimer asks the loop to file the connection's timer on its wheel:
// inside one of c's callbacks the loop does it when the callback returns,
// from elsewhere it is woken as for a write.
func (c *conn) SetTimer(d time.Duration) {
	if c.l.r.th == nil {
		return
	}
	want := int64(-1)
	if d > 0 {
		want = int64(time.Since(c.l.r.start) + d)
	}
	c.mu.Lock()
	if c.tm == nil {
		c.tm = &ctimer{node: wheel.Node[*conn]{Owner: c}}
	}
	c.tm.want = want
	c.timerSet = true
	c.mu.Unlock()
	c.control()
}

// PauseRead stops reading c until ResumeRead.
func (c *conn) PauseRead() {
	c.mu.Lock()
	c.readPaused = true
	c.mu.Unlock()
	c.control()
}

// ResumeRead resumes reading c.
func (c *conn) ResumeRead() {
	c.mu.Lock()
	c.readPaused = false
	c.mu.Unlock()
	c.control()
}

// NotifyDrained asks for Drained once the queue is at or below mark.
func (c *conn) NotifyDrained(mark int) {
	if c.l.r.dh == nil {
		return
	}
	c.mu.Lock()
	c.drainAsk.Ask(mark)
	c.mu.Unlock()
	c.control()
}

// drainDue reports whether Drained is due with queued bytes queued, and
// if so takes the request: the mark is read and cleared under c.mu, so a
// request made meanwhile from another goroutine is not lost.
func (c *conn) drainDue(queued int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.drainAsk.Due(queued)
}

// control marks c for the loop to apply what its handler asked.
func (c *conn) control() {
	c.flags.Or(flagControl)
	c.notify()
}

// applyControl takes the handler's requests into the loop's state. It
// reports whether reading has just resumed with kept input, which the
// caller then hands to Data again.
func (l *loop) applyControl(c *conn) (redeliver bool) {
	c.flags.And(^uint32(flagControl))
	c.mu.Lock()
	paused, want, timerSet := c.readPaused, c.drainAsk.Asked(), c.timerSet
	var at int64
	if timerSet {
		at = c.tm.want
	}
	c.timerSet = false
	c.mu.Unlock()
	if want {
		c.drainWait = true
	}
	if timerSet {
		l.setTimer(c, at)
	}
	redeliver = c.upaused && !paused && len(c.in) > 0
	c.upaused = paused
	return redeliver
}

// setTimer files c's timer under deadline at, or cancels it if at < 0.
func (l *loop) setTimer(c *conn, at int64) {
	if !l.twheel.Made() {
		l.twheel = wheel.ForTimers[*conn]()
	}
	l.twheel.Remove(&c.tm.node)
	if at < 0 || c.done {
		return
	}
	c.tm.at = at
	l.twheel.Add(&c.tm.node, at, l.now)
}

// fire is called by the timer wheel for a timer whose slot came round.
func (l *loop) fire(x *wheel.Node[*conn]) {
	c := x.Owner
	if c.done || c.closing {
		return
	}
	if c.tm.at > l.now {
		l.twheel.Add(x, c.tm.at, l.now) // a turn or more ahead
		return
	}
	if l.call(c, l.r.th.Timer) {
		l.settle(c)
	}
}
