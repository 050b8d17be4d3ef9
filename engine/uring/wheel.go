//go:build linux

package uring

import (
	"math/bits"
	"time"
)

// wheel is a hashed timer wheel. A loop keeps two: one for idle timeouts,
// one for the handlers' connection timers (Conn.SetTimer).
//
// A node is filed under the tick of its deadline, modulo the wheel's size.
// When its slot comes round, the owner's due function is called, which
// either acts or files the node again: a deadline more than one turn ahead,
// or one that moved (idle timeouts file a connection under its deadline
// and input or output progress only updates conn.active, so progress costs
// one store and each connection is looked at about once per timeout). A
// bitmap of occupied slots lets the loop sleep until the next occupied one
// rather than wake every tick.
type wheel struct {
	tick  int64 // ns per slot
	slots []*wnode
	bits  []uint64 // occupied slots
	mask  int64
	cur   int64 // the last tick processed
	n     int   // nodes filed
	// first caches nextTick while known, since the loop asks on every
	// turn: the bitmap scan covers up to a whole turn of the wheel.
	first int64 // -1: unknown
}

// wnode is one entry of a wheel, embedded in what it times.
type wnode struct {
	prev, next *wnode
	c          *conn
	slot       int32 // -1 when not filed
}

const (
	wheelSlots = 64
	// timerTick and timerSlots shape the connection timers' wheel: a
	// millisecond's precision, one turn every four seconds.
	timerTick  = time.Millisecond
	timerSlots = 4096
)

// newWheel returns a wheel for idle timeouts of timeout: wheelSlots ticks
// per timeout.
func newWheel(timeout time.Duration) wheel {
	tick := max(int64(timeout)/wheelSlots, int64(time.Millisecond))
	// A deadline is at most timeout ahead: size the wheel to hold that
	// many ticks and two more without wrapping.
	return makeWheel(tick, int64(timeout)/tick+2)
}

// makeWheel returns a wheel of tick ns per slot and at least n slots.
func makeWheel(tick, n int64) wheel {
	size := int64(64) // a whole word of the bitmap at least
	for size < n {
		size <<= 1
	}
	return wheel{tick: tick, slots: make([]*wnode, size), bits: make([]uint64, size/64), mask: size - 1, first: -1}
}

// add files x under deadline (loop time, ns).
func (w *wheel) add(x *wnode, deadline, now int64) {
	if w.n == 0 {
		w.cur = now / w.tick
		w.first = -1
	}
	t := (deadline + w.tick - 1) / w.tick
	if t <= w.cur {
		t = w.cur + 1
	}
	s := t & w.mask
	x.slot = int32(s)
	x.prev = nil
	x.next = w.slots[s]
	if x.next != nil {
		x.next.prev = x
	}
	w.slots[s] = x
	w.bits[s>>6] |= 1 << (s & 63)
	w.n++
	if w.first >= 0 {
		// The tick at which slot s next comes round.
		at := w.cur + 1 + (s-(w.cur+1))&w.mask
		w.first = min(w.first, at)
	}
}

func (w *wheel) remove(x *wnode) {
	if x.slot < 0 {
		return
	}
	if x.prev != nil {
		x.prev.next = x.next
	} else {
		w.slots[x.slot] = x.next
		if x.next == nil {
			w.bits[x.slot>>6] &^= 1 << (x.slot & 63)
			w.first = -1
		}
	}
	if x.next != nil {
		x.next.prev = x.prev
	}
	x.prev, x.next, x.slot = nil, nil, -1
	w.n--
}

// nextTick returns the first tick after cur whose slot is occupied, or -1
// if nothing is filed.
func (w *wheel) nextTick() int64 {
	if w.n == 0 {
		return -1
	}
	if w.first < 0 {
		w.first = w.scan()
	}
	return w.first
}

// scan finds nextTick in the bitmap.
func (w *wheel) scan() int64 {
	start := w.cur + 1
	size := int64(len(w.slots))
	for k := int64(0); k < size; {
		s := (start + k) & w.mask
		if word := w.bits[s>>6] >> (s & 63); word != 0 {
			return start + k + int64(bits.TrailingZeros64(word))
		}
		k += 64 - s&63
	}
	return start // not reached: n > 0 means a bit is set
}

// next returns the loop time of the next occupied tick, or -1 if nothing is
// filed.
func (w *wheel) next() int64 {
	t := w.nextTick()
	if t < 0 {
		return -1
	}
	return t * w.tick
}

// advance processes the occupied ticks up to now, calling due for each node
// filed under them. due either files the node again or acts on it.
func (w *wheel) advance(now int64, due func(x *wnode)) {
	t := now / w.tick
	if w.n == 0 {
		w.cur = t
		return
	}
	if t-w.cur > int64(len(w.slots)) {
		w.cur = t - int64(len(w.slots))
		w.first = -1
	}
	for {
		nt := w.nextTick()
		if nt < 0 || nt > t {
			w.cur = t // nothing occupied up to t: first stays right
			return
		}
		w.cur = nt
		s := nt & w.mask
		x := w.slots[s]
		w.slots[s] = nil
		w.bits[s>>6] &^= 1 << (s & 63)
		w.first = -1
		for x != nil {
			next := x.next
			x.prev, x.next, x.slot = nil, nil, -1
			w.n--
			due(x)
			x = next
		}
	}
}
