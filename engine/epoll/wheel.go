//go:build linux

package epoll

import "time"

// wheel is a timer wheel for idle timeouts. Every connection of a service
// has the same timeout, so a connection is filed under the tick of its
// deadline and input or output progress only updates conn.active: when its
// slot comes round, a connection that has been active since is filed again
// under its new deadline. Progress therefore costs one store, and each
// connection is looked at about once per timeout.
type wheel struct {
	tick  int64 // ns per slot
	slots []*conn
	mask  int64
	cur   int64 // the last tick processed
	n     int   // connections filed
}

const wheelSlots = 64

func newWheel(timeout time.Duration) wheel {
	tick := int64(timeout) / wheelSlots
	if tick < int64(time.Millisecond) {
		tick = int64(time.Millisecond)
	}
	// A deadline is at most timeout ahead: size the wheel to hold that
	// many ticks and two more without wrapping.
	n := int64(1)
	for n < int64(timeout)/tick+2 {
		n <<= 1
	}
	return wheel{tick: tick, slots: make([]*conn, n), mask: n - 1}
}

// add files c under deadline (loop time, ns).
func (w *wheel) add(c *conn, deadline, now int64) {
	if w.n == 0 {
		w.cur = now / w.tick
	}
	t := (deadline + w.tick - 1) / w.tick
	if t <= w.cur {
		t = w.cur + 1
	}
	s := t & w.mask
	c.wslot = int32(s)
	c.wprev = nil
	c.wnext = w.slots[s]
	if c.wnext != nil {
		c.wnext.wprev = c
	}
	w.slots[s] = c
	w.n++
}

func (w *wheel) remove(c *conn) {
	if c.wslot < 0 {
		return
	}
	if c.wprev != nil {
		c.wprev.wnext = c.wnext
	} else {
		w.slots[c.wslot] = c.wnext
	}
	if c.wnext != nil {
		c.wnext.wprev = c.wprev
	}
	c.wprev, c.wnext, c.wslot = nil, nil, -1
	w.n--
}

// next returns the loop time of the next tick, or -1 if nothing is filed.
func (w *wheel) next() int64 {
	if w.n == 0 {
		return -1
	}
	return (w.cur + 1) * w.tick
}

// advance processes the ticks up to now, calling due for each connection
// filed under them. due either refiles the connection or closes it.
func (w *wheel) advance(now int64, due func(c *conn)) {
	t := now / w.tick
	if w.n == 0 {
		w.cur = t
		return
	}
	if t-w.cur > int64(len(w.slots)) {
		w.cur = t - int64(len(w.slots))
	}
	for w.cur < t {
		w.cur++
		s := w.cur & w.mask
		c := w.slots[s]
		w.slots[s] = nil
		for c != nil {
			next := c.wnext
			c.wprev, c.wnext, c.wslot = nil, nil, -1
			w.n--
			due(c)
			c = next
		}
	}
}
