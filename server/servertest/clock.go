package servertest

import (
	"sync"
	"time"
)

// Epoch is the time a Clock starts at unless told otherwise: fixed, so
// that transcripts do not change from run to run.
var Epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Clock is a fake clock for connection timers. The sessions that share one
// (see WithClock) have their timers fired by Advance in the order of their
// deadlines. Give its Now to the handler under test where it takes a
// clock, so that the handler and its timers agree on the time.
type Clock struct {
	mu       sync.Mutex
	now      time.Time
	sessions []*Session
}

// NewClock returns a clock standing at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time. It is safe to call from any goroutine.
func (k *Clock) Now() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.now
}

func (k *Clock) add(s *Session) {
	k.mu.Lock()
	k.sessions = append(k.sessions, s)
	k.mu.Unlock()
}

// Advance moves the clock on by d, firing every timer that falls due on the
// way, earliest first (between sessions with the same deadline, the one
// started first), with the clock standing at each timer's deadline while it
// fires. A timer armed by a Timer call fires in the same Advance if it
// falls due within it. Call it from the test's goroutine.
func (k *Clock) Advance(d time.Duration) {
	k.mu.Lock()
	end := k.now.Add(d)
	k.mu.Unlock()
	for {
		k.mu.Lock()
		var next *Session
		var at time.Time
		live := k.sessions[:0]
		for _, s := range k.sessions {
			if s.finished {
				continue
			}
			live = append(live, s)
			if t, ok := s.due(); ok && !t.After(end) && (next == nil || t.Before(at)) {
				next, at = s, t
			}
		}
		clear(k.sessions[len(live):])
		k.sessions = live
		if next == nil {
			k.now = end
			k.mu.Unlock()
			return
		}
		if at.After(k.now) {
			k.now = at
		}
		k.mu.Unlock()
		next.FireTimer()
	}
}
