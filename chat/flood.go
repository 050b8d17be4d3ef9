package chat

import (
	"time"
)

// This file is flood control: a token bucket per client.

// Allow applies flood control to a line or request m's client sent: ok
// says to handle it, flooding that the client kept sending through a whole
// burst of dropped ones and should be disconnected. For doors outside this
// package; call it from the door's input handling only.
func (h *Hub) Allow(m *Member) (ok, flooding bool) {
	if m.bucket.allow(&h.o, h.o.Now()) {
		return true, false
	}
	return false, m.bucket.flooding(&h.o)
}

// bucket is a token bucket: flood control.
type bucket struct {
	tokens  float64
	last    int64 // unix nanoseconds
	dropped int32 // lines dropped in a row
}

// allow takes a token if there is one.
func (b *bucket) allow(o *Options, now time.Time) bool {
	if o.FloodRate < 0 {
		return true
	}
	t := now.UnixNano()
	if b.last == 0 {
		b.tokens = float64(o.FloodBurst)
	} else {
		b.tokens = min(float64(o.FloodBurst), b.tokens+float64(t-b.last)/1e9*o.FloodRate)
	}
	b.last = t
	if b.tokens >= 1 {
		b.tokens--
		b.dropped = 0
		return true
	}
	b.dropped++
	o.Stats.DroppedFlood.Add(1)
	return false
}

// flooding reports whether the client kept sending through a whole burst of
// dropped lines, and should be disconnected.
func (b *bucket) flooding(o *Options) bool { return int(b.dropped) > o.FloodBurst }
