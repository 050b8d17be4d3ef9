package chat

import (
	"sync"
	"time"
)

// newcomers are the connections that have not registered yet, with when
// each came (unix nanoseconds). Sweep closes those that have taken longer
// than RegisterTimeout, so that connections that never log in cannot hold
// places for long. A newcomer is a *Member until it registers, or a
// *sniff before its first line says which door it came to.
type newcomers struct {
	mu sync.Mutex
	at map[any]int64
}

// arrive records n as a newcomer that came at at.
func (h *Hub) arrive(n any, at int64) {
	if h.o.RegisterTimeout < 0 {
		return
	}
	h.newcomers.mu.Lock()
	if h.newcomers.at == nil {
		h.newcomers.at = make(map[any]int64)
	}
	h.newcomers.at[n] = at
	h.newcomers.mu.Unlock()
}

// settle forgets n as a newcomer: it registered, or left.
func (h *Hub) settle(n any) {
	h.newcomers.mu.Lock()
	delete(h.newcomers.at, n)
	h.newcomers.mu.Unlock()
}

// lateNewcomers returns the newcomers that came RegisterTimeout or longer
// before now.
func (h *Hub) lateNewcomers(now int64) []any {
	if h.o.RegisterTimeout < 0 {
		return nil
	}
	limit := now - int64(h.o.RegisterTimeout)
	var late []any
	h.newcomers.mu.Lock()
	for n, at := range h.newcomers.at {
		if at <= limit {
			late = append(late, n)
		}
	}
	h.newcomers.mu.Unlock()
	return late
}

// closeLate closes the newcomers that took too long to register, telling
// them why. It logs one line for them all: an attacker's silent
// connections are many.
func (h *Hub) closeLate(now int64) {
	late := h.lateNewcomers(now)
	if len(late) == 0 {
		return
	}
	reason := "registration timed out after " + h.o.RegisterTimeout.String()
	for _, n := range late {
		switch v := n.(type) {
		case *Member:
			h.mu.RLock()
			registered := v.nick != "" && h.nicks[foldNick(v.nick)] == v
			h.mu.RUnlock()
			if !registered && v.gone.CompareAndSwap(nil, &reason) {
				v.door.Kick(v, reason)
			}
		case *sniff:
			v.late(reason)
		}
		h.settle(n)
	}
	h.o.Logger.Info("chat closed connections that did not log in", "count", len(late), "reason", reason)
}

// sweepEvery is how often Run sweeps: a quarter of the shortest timeout it
// enforces, so that each is kept within a quarter of its length.
func (o *Options) sweepEvery() time.Duration {
	d := min(o.PingInterval, o.IdleTimeout)
	if o.RegisterTimeout > 0 {
		d = min(d, o.RegisterTimeout)
	}
	return d / 4
}
