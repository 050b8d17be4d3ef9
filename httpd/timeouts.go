package httpd

import (
	"time"

	"github.com/portside/portside/proto/http1"
	"github.com/portside/portside/server"
)

// The connection's one timer (server.Conn.SetTimer) serves every deadline
// it has, one phase at a time: the header timeout while a head arrives,
// the minimum body rate while a body does, an answer put off (later), and
// the answer to a request still partly read late in the drain. Timer works
// out which is due from the connection's state and arms the next.
//
// A request that arrives whole in one read arms nothing: armTimer runs at
// the end of each callback and arms only while a deadline is pending, and
// a timer armed earlier than needed just finds nothing due and re-arms.

// armTimer arms the timer for the earliest deadline the connection has,
// unless it is armed for earlier already. mu is held and tick called.
func (cn *conn) armTimer() {
	if cn.closing || cn.closed || cn.taken != nil {
		return
	}
	at, ok := cn.nextDeadline()
	if !ok || cn.timerAt != 0 && cn.timerAt <= at {
		return
	}
	cn.timerAt = at
	cn.c.SetTimer(time.Duration(max(at-cn.nowNs, 1)))
}

// nextDeadline returns the earliest pending deadline, in unix nanoseconds
// of Options.Now.
func (cn *conn) nextDeadline() (at int64, ok bool) {
	o := &cn.h.o
	consider := func(t int64) {
		if !ok || t < at {
			at, ok = t, true
		}
	}
	if cn.laterFn != nil {
		consider(cn.nowNs + int64(time.Until(cn.laterAt)))
	}
	if cn.async || cn.stalled {
		return at, ok
	}
	switch cn.phase {
	case phaseHead:
		consider(cn.since + int64(o.HeaderTimeout))
	case phaseBody:
		if o.MinBodyRate >= 0 {
			consider(cn.rateAt + int64(o.BodyRateWindow))
		}
	}
	if cn.draining && cn.partial() {
		consider(cn.drainAt)
	}
	return at, ok
}

// Timer implements server.TimerHandler: it acts on whichever deadline is
// due, then arms the next. A connection upgraded to another protocol hands
// its timer to it.
func (h *Handler) Timer(c server.Conn) {
	cn := c.Value().(*conn)
	cn.mu.Lock()
	if t := cn.taken; t != nil {
		cn.mu.Unlock()
		if th, ok := t.(server.TimerHandler); ok {
			th.Timer(c)
		}
		return
	}
	defer cn.mu.Unlock()
	cn.timerAt = 0
	if cn.closed || cn.closing {
		return
	}
	cn.tick()
	switch {
	case cn.laterFn != nil && !time.Now().Before(cn.laterAt):
		cn.runLater()
	case !cn.async && !cn.stalled:
		if status := cn.overdue(); status != 0 {
			cn.timeout(status)
			return
		}
	}
	cn.armTimer()
}

// overdue returns 408 if the connection is too slow sending a head or a
// body, 503 if a request partly read at shutdown is not done in time, else
// 0.
func (cn *conn) overdue() int {
	o := &cn.h.o
	now := cn.nowNs
	if cn.draining && cn.partial() && now >= cn.drainAt {
		return 503
	}
	switch cn.phase {
	case phaseHead:
		if now-cn.since >= int64(o.HeaderTimeout) {
			return 408
		}
	case phaseBody:
		if o.MinBodyRate < 0 || now-cn.rateAt < int64(o.BodyRateWindow) {
			return 0
		}
		want := o.MinBodyRate * int64(o.BodyRateWindow) / int64(time.Second)
		if cn.bodyN-cn.rateMark < want {
			return 408
		}
		cn.rateAt, cn.rateMark = now, cn.bodyN
	}
	return 0
}

// timeout answers status and closes.
func (cn *conn) timeout(status int) {
	if status == 503 {
		cn.cutShort()
		cn.flush()
		return
	}
	if cn.up != nil {
		cn.up.abort()
		cn.up = nil
	}
	cn.out = http1.AppendError(cn.out, status, cn.now, "")
	cn.closing = true
	cn.logRefused(status)
	cn.flush()
}
