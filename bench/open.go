package bench

import (
	"errors"
	"io"
	"net"
	"time"
)

// sendRec is an open-loop request in flight: when the schedule meant it to
// go out, and when it did.
type sendRec struct{ intended, sent int64 }

// Why an open-loop writer stopped.
const (
	wendDone = iota + 1 // no tickets left
	wendStop            // the run is over
	wendDead            // the reader gave up on the connection
	wendErr             // a write failed
	wendOne             // keep-alive off: the connection's one request is out
)

// popOpen takes the oldest request in flight as answered and frees its
// pipeline slot.
func (w *worker) popOpen() (sendRec, bool) {
	if w.hasHead {
		w.hasHead = false
		<-w.slots
		return w.headRec, true
	}
	select {
	case e, ok := <-w.pend:
		if ok {
			<-w.slots
		}
		return e, ok
	default:
		return sendRec{}, false
	}
}

var aLongTimeAgo = time.Unix(1, 0)

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// openConn runs the open loop on c. A writer goroutine sends on the global
// schedule, waiting for a free pipeline slot when the server is behind (that
// wait is the schedule lag, and it counts in the corrected latency); this
// goroutine reads and checks the replies. It returns whether the worker
// should go on with a new connection.
func (w *worker) openConn(c net.Conn) bool {
	r, s := w.r, w.sess
	s.reset()
	oneShot := r.http != nil && r.cfg.HTTP.NoKeepAlive
	pend := make(chan sendRec, r.depth)
	slots := make(chan struct{}, r.depth)
	w.pend, w.slots, w.hasHead, w.wend = pend, slots, false, 0
	dead := make(chan struct{})
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		defer close(pend)
		for {
			if !w.hasHeld {
				var at int64
				var ok bool
				select {
				case at, ok = <-r.pace:
				case <-dead:
					w.wend = wendDead
					return
				case <-r.endCh:
					ok = false
				}
				if !ok {
					w.wend = wendDone
					if r.stopped.Load() {
						w.wend = wendStop
					}
					return
				}
				w.held, w.hasHeld = at, true
			}
			// When every pipeline slot is taken the writer waits here,
			// and the wait shows as schedule lag.
			select {
			case slots <- struct{}{}:
			case <-dead:
				w.wend = wendDead
				return
			case <-r.endCh:
				// Sending is over: the ticket is dropped, like
				// the pacer's (the send rate shows them).
				w.wend = wendDone
				if r.stopped.Load() {
					w.wend = wendStop
				}
				return
			}
			w.hasHeld = false
			// The record is queued before the bytes go out, so the
			// reader always finds it.
			e := sendRec{intended: w.held, sent: r.now()}
			pend <- e
			w.countSent(e.intended, 1)
			if err := s.send(c, 1); err != nil {
				w.wend = wendErr
				return
			}
			if oneShot {
				w.wend = wendOne
				return
			}
		}
	}()

	broken := func(err any) bool {
		k := w.classify(err)
		close(dead)
		c.SetDeadline(aLongTimeAgo)
		<-wdone
		now := r.now()
		if k != kindStop {
			if w.hasHead {
				w.hasHead = false
				w.complete(w.headRec.intended, w.headRec.sent, now, k)
			}
			for e := range pend {
				w.complete(e.intended, e.sent, now, k)
			}
		}
		w.hasHead = false
		return !r.stopped.Load()
	}

	for {
		if !w.hasHead {
			e, ok := <-pend
			if !ok {
				<-wdone
				switch w.wend {
				case wendOne:
					return w.drainClose(c)
				case wendErr, wendDead:
					return !r.stopped.Load()
				}
				// No more tickets and nothing owed.
				w.park()
				return false
			}
			w.headRec, w.hasHead = e, true
			w.last.Store(max(e.sent, 1))
		}
		n, err := c.Read(w.buf)
		if n > 0 {
			w.rnow = r.now()
			w.last.Store(w.rnow)
			switch k := s.feed(w.buf[:n]); k {
			case kindOK:
			case kindAgain:
				return broken(kindStop)
			default:
				return broken(k)
			}
			if w.owed() == 0 {
				w.last.Store(0)
			}
		}
		if err != nil {
			if isEOF(err) {
				w.rnow = r.now()
				if s.eof() && w.owed() == 0 {
					continue
				}
			}
			return broken(err)
		}
	}
}
