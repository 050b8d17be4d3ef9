package httpd

import (
	"time"

	"github.com/portside/portside/proto/http1"
)

// sweep enforces the header timeout and the minimum body rate. One
// goroutine looks at every connection a few times a second, which costs the
// request path two atomic stores instead of a timer per request.
func (h *Handler) sweep() {
	defer close(h.sweepDone)
	every := min(h.o.HeaderTimeout/4, h.o.BodyRateWindow/4, time.Second)
	every = max(every, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	var list []*conn
	for {
		select {
		case <-h.sweepStop:
			return
		case <-t.C:
		}
		now := h.o.Now().UnixNano()
		if h.throttle != nil {
			h.throttle.prune(time.Now().UnixNano())
		}
		h.mu.Lock()
		list = list[:0]
		for cn := range h.conns {
			list = append(list, cn)
		}
		h.mu.Unlock()
		for _, cn := range list {
			if status := cn.overdue(now); status != 0 {
				cn.timeout(status)
			}
		}
		clear(list)
	}
}

// overdue returns 408 if the connection is too slow sending a head or a
// body, else 0. Only the sweeper calls it.
func (cn *conn) overdue(now int64) int {
	o := &cn.h.o
	switch cn.phase.Load() {
	case phaseHead:
		if now-cn.since.Load() > int64(o.HeaderTimeout) {
			return 408
		}
	case phaseBody:
		if o.MinBodyRate < 0 {
			return 0
		}
		since := cn.since.Load()
		if cn.rateAt < since {
			// A new body: start measuring.
			cn.rateAt, cn.rateMark = max(since, now), cn.bodyN.Load()
			return 0
		}
		if now-cn.rateAt < int64(o.BodyRateWindow) {
			return 0
		}
		got := cn.bodyN.Load()
		want := o.MinBodyRate * int64(o.BodyRateWindow) / int64(time.Second)
		if got-cn.rateMark < want {
			return 408
		}
		cn.rateAt, cn.rateMark = now, got
	}
	return 0
}

// timeout answers 408 and closes, unless the connection moved on meanwhile.
func (cn *conn) timeout(status int) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.closed || cn.closing || cn.async || cn.stalled {
		return
	}
	if p := cn.phase.Load(); p != phaseHead && p != phaseBody {
		return
	}
	cn.tick()
	if cn.up != nil {
		cn.up.abort()
		cn.up = nil
	}
	cn.out = http1.AppendError(cn.out, status, cn.now, "")
	cn.closing = true
	cn.logRefused(status)
	cn.flush()
}
