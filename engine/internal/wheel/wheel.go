// Package wheel is the hashed timer wheel the event-loop engines keep idle
// timeouts and the handlers' connection timers (Conn.SetTimer) on, with no
// goroutine or time.Timer per connection.
//
// A node is filed under the tick of its deadline, modulo the wheel's size.
// When its slot comes round, the owner's due function is called, which
// either acts or files the node again: a deadline more than one turn ahead,
// or one that moved (idle timeouts file a connection under its deadline
// and input or output progress only updates the connection's last-active
// time, so progress costs one store and each connection is looked at about
// once per timeout). A bitmap of occupied slots lets a loop sleep until the
// next occupied one rather than wake every tick.
//
// A wheel belongs to one loop goroutine: it has no lock.
package wheel

import (
	"math/bits"
	"time"
)

// Wheel files Nodes whose Owner is a T. The zero Wheel is empty and unmade
// (see Made); Next and Len work on it.
type Wheel[T any] struct {
	tick  int64 // ns per slot
	slots []*Node[T]
	bits  []uint64 // occupied slots
	mask  int64
	cur   int64 // the last tick processed
	n     int   // nodes filed
	// first caches nextTick while known, since the loop asks on every
	// turn: the bitmap scan covers up to a whole turn of the wheel.
	first int64 // -1: unknown
}

// Node is one entry of a wheel, embedded in what it times. The zero Node is
// not filed.
type Node[T any] struct {
	prev, next *Node[T]
	Owner      T
	slot       int32 // the slot filed under, plus one; 0 when not filed
}

// Filed reports whether x is on a wheel.
func (x *Node[T]) Filed() bool { return x.slot != 0 }

const (
	idleSlots = 64
	// timerTick and timerSlots shape the connection timers' wheel: a
	// millisecond's precision, one turn every four seconds.
	timerTick  = time.Millisecond
	timerSlots = 4096
)

// ForIdle returns a wheel for idle timeouts of timeout: 64 ticks per
// timeout, a millisecond at least.
func ForIdle[T any](timeout time.Duration) Wheel[T] {
	tick := max(int64(timeout)/idleSlots, int64(time.Millisecond))
	// A deadline is at most timeout ahead: size the wheel to hold that
	// many ticks and two more without wrapping.
	return Make[T](tick, int64(timeout)/tick+2)
}

// ForTimers returns a wheel for the handlers' connection timers, whose
// deadlines may be anything: a millisecond's precision, a turn every four
// seconds, later deadlines filed again as their slot comes round.
func ForTimers[T any]() Wheel[T] { return Make[T](int64(timerTick), timerSlots) }

// Make returns a wheel of tick ns per slot and at least n slots.
func Make[T any](tick, n int64) Wheel[T] {
	size := int64(64) // a whole word of the bitmap at least
	for size < n {
		size <<= 1
	}
	return Wheel[T]{tick: tick, slots: make([]*Node[T], size), bits: make([]uint64, size/64), mask: size - 1, first: -1}
}

// Made reports whether w was made (the zero Wheel was not).
func (w *Wheel[T]) Made() bool { return w.slots != nil }

// Len reports the nodes filed.
func (w *Wheel[T]) Len() int { return w.n }

// Add files x under deadline (loop time, ns). x must not be filed.
func (w *Wheel[T]) Add(x *Node[T], deadline, now int64) {
	if w.n == 0 {
		w.cur = now / w.tick
		w.first = -1
	}
	t := (deadline + w.tick - 1) / w.tick
	if t <= w.cur {
		t = w.cur + 1
	}
	s := t & w.mask
	x.slot = int32(s) + 1
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

// Remove takes x off the wheel, if it is filed.
func (w *Wheel[T]) Remove(x *Node[T]) {
	if x.slot == 0 {
		return
	}
	s := x.slot - 1
	if x.prev != nil {
		x.prev.next = x.next
	} else {
		w.slots[s] = x.next
		if x.next == nil {
			w.bits[s>>6] &^= 1 << (s & 63)
			w.first = -1
		}
	}
	if x.next != nil {
		x.next.prev = x.prev
	}
	x.prev, x.next, x.slot = nil, nil, 0
	w.n--
}

// nextTick returns the first tick after cur whose slot is occupied, or -1
// if nothing is filed.
func (w *Wheel[T]) nextTick() int64 {
	if w.n == 0 {
		return -1
	}
	if w.first < 0 {
		w.first = w.scan()
	}
	return w.first
}

// scan finds nextTick in the bitmap.
func (w *Wheel[T]) scan() int64 {
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

// Next returns the loop time of the next occupied tick, or -1 if nothing is
// filed.
func (w *Wheel[T]) Next() int64 {
	t := w.nextTick()
	if t < 0 {
		return -1
	}
	return t * w.tick
}

// Advance processes the occupied ticks up to now, calling due for each node
// filed under them, already taken off the wheel. due either files the node
// again or acts on it.
func (w *Wheel[T]) Advance(now int64, due func(x *Node[T])) {
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
			x.prev, x.next, x.slot = nil, nil, 0
			w.n--
			due(x)
			x = next
		}
	}
}
