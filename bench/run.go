package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

// kind is what went wrong with a request.
type kind int

const (
	kindOK       kind = iota
	kindConnect       // could not connect
	kindTimeout       // no reply within Config.Timeout
	kindClosed        // the server closed or reset the connection mid-request
	kindIO            // any other read or write error
	kindMismatch      // echo: bytes came back different, or out of order
	kindStatus        // HTTP: not the expected status
	kindLength        // HTTP: not the expected body length
	kindProtocol      // a reply that does not parse
	kindLost          // UDP: a datagram never came back
	// Still without a reply when the run ended, after the grace given to
	// requests in flight (see execute): a starved connection's requests.
	kindUnanswered
	numKinds

	// Not errors: what ends a connection without blame.
	kindStop  // the run is over
	kindAgain // the server ended the connection cleanly (Connection: close)
)

var kindNames = [numKinds]string{"ok", "connect", "timeout", "closed", "io", "mismatch", "status", "length", "protocol", "lost", "unanswered"}

func (k kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Histogram bounds: nanoseconds from 1µs resolution to 100 s.
const (
	histLow  = 1000
	histHigh = 100e9
	histSig  = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histLow, histHigh, histSig) }

func recordHist(h *hdrhistogram.Histogram, v int64) {
	if v < 1 {
		v = 1
	}
	if v > histHigh {
		v = histHigh
	}
	h.RecordValue(v)
}

// shard holds histograms shared by a group of workers. Workers batch their
// values locally and flush them here under the lock, so a histogram is not
// allocated per connection (each is ~150 KB) and the lock is rare.
type shard struct {
	mu                  sync.Mutex
	lat, unc, lag, conn *hdrhistogram.Histogram
}

const flushEvery = 512

// run is one measured window against one target.
type run struct {
	cfg    *Config
	t      Target
	label  string
	addr   string
	open   bool // open loop
	depth  int
	base   time.Time
	warm   int64 // measured window start, ns since base
	end    int64 // deadline, ns since base
	bucket int64 // timeline bucket width, ns

	budget   atomic.Int64 // closed loop with Count: measured requests left
	pace     chan int64   // open loop: send times, from the pacer
	interval float64      // open loop: ns between tickets
	firstT   int64        // open loop: first measured ticket
	lastT    int64        // open loop: tickets end here (exclusive); 0 none

	stopped atomic.Bool
	stopCh  chan struct{}
	stopMu  sync.Once

	// Sending stops at the end of the window (or when the run stops):
	// ending is set and endCh closed. Replies still owed then have a grace
	// to arrive; the run stops when none is owed.
	ending atomic.Bool
	endCh  chan struct{}
	endMu  sync.Once
	idle   atomic.Int64  // workers with nothing more to send or read
	idleCh chan struct{} // poked when idle grows

	shards  []*shard
	workers []*worker

	echo *echoPlan
	http *httpPlan

	perf        bool
	interrupted bool
	// Filled in by execute.
	winStart, winEnd int64
	cpu              cpuWindow
}

func newRun(cfg *Config, t Target, label string, perf bool) *run {
	r := &run{
		cfg:    cfg,
		t:      t,
		label:  label,
		addr:   cfg.dialAddr(t),
		open:   cfg.Rate > 0,
		depth:  cfg.Pipeline,
		stopCh: make(chan struct{}),
		endCh:  make(chan struct{}),
		idleCh: make(chan struct{}, 1),
		perf:   perf,
	}
	r.bucket = int64(100 * time.Millisecond)
	if w := int64(cfg.Duration / 300); w > r.bucket && cfg.Duration < 10*time.Minute {
		r.bucket = w
	}
	switch cfg.Mode {
	case Echo:
		r.echo = newEchoPlan(cfg)
	case HTTP:
		r.http = newHTTPPlan(cfg, t)
	}
	n := min(cfg.Conns, 16)
	for range n {
		r.shards = append(r.shards, &shard{lat: newHist(), unc: newHist(), lag: newHist(), conn: newHist()})
	}
	return r
}

func (r *run) now() int64 { return int64(time.Since(r.base)) }

func (r *run) stop() {
	r.endSending()
	r.stopMu.Do(func() {
		r.stopped.Store(true)
		close(r.stopCh)
	})
}

// endSending stops new requests; replies still owed are awaited.
func (r *run) endSending() {
	r.endMu.Do(func() {
		r.ending.Store(true)
		close(r.endCh)
	})
}

// hard is when a connection's deadline falls: the end of the window plus
// the grace for replies in flight.
func (r *run) hard() int64 { return r.end + int64(r.cfg.Timeout) }

// execute runs the window: warm-up, measurement, and the CPU samples around
// the measured part.
func (r *run) execute(ctx context.Context) {
	cfg := r.cfg
	r.base = time.Now()
	r.warm = int64(cfg.Warmup)
	r.end = r.warm + int64(cfg.Duration)
	if cfg.Count > 0 && !r.open {
		r.budget.Store(cfg.Count)
	}
	if r.open {
		r.interval = 1e9 / cfg.Rate
		r.firstT = int64(float64(r.warm)/r.interval + 0.999999)
		if cfg.Count > 0 {
			r.lastT = r.firstT + cfg.Count
		}
		r.pace = make(chan int64)
		go r.pacer()
	}
	for i := range cfg.Conns {
		w := &worker{r: r, id: i, sh: r.shards[i%len(r.shards)]}
		w.init()
		r.workers = append(r.workers, w)
	}
	var wg sync.WaitGroup
	for _, w := range r.workers {
		wg.Go(w.loop)
	}
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	prog := newProgress(cfg.Progress, r)

	// The measured window opens after the warm-up.
	warmT := time.NewTimer(time.Duration(r.warm))
warm:
	for {
		select {
		case <-warmT.C:
			break warm
		case <-finished:
			break warm
		case <-ctx.Done():
			break warm
		case <-tick.C:
			r.watch()
			prog.tick()
		}
	}
	warmT.Stop()
	// Replies count from the planned start of the window, however late
	// the timer fired.
	r.winStart = min(r.now(), r.warm)
	r.cpu.begin(r)
	endT := time.NewTimer(time.Duration(r.end - r.now()))
	defer endT.Stop()
	// The grace for replies owed at the end of the window: they have
	// Timeout to come, as during the window; then what is still owed is
	// unanswered. A healthy server answers within a round trip, so this
	// costs nothing unless something is wrong.
	grace := time.NewTimer(0)
	grace.Stop()
	defer grace.Stop()
	var graceC <-chan time.Time // set when the grace starts
	cpuDone := false
loop:
	for {
		select {
		case <-finished:
			break loop
		case <-endT.C:
			r.endSending()
			r.cpu.finish(r)
			cpuDone = true
			grace.Reset(time.Duration(r.hard() - r.now()))
			graceC = grace.C
		case <-graceC:
			// Kill before stopping, so that the replies owed count
			// as unanswered, not as the run's own stop.
			r.killAll(killUnanswered)
			r.stop()
		case <-ctx.Done():
			if !r.stopped.Load() {
				r.interrupted = true
			}
			r.stop()
		case <-r.idleCh:
		case <-tick.C:
			r.watch()
			prog.tick()
		}
		if !r.stopped.Load() && r.idle.Load() == int64(len(r.workers)) {
			// Nothing is owed and nothing more will be sent: the
			// grace is over, or a Count run is done.
			r.stop()
		}
		if r.stopped.Load() {
			r.killAll(killStop)
			<-finished
			break
		}
	}
	r.stop() // for the pacer, if every worker gave up early
	r.winEnd = min(r.now(), r.end)
	if r.winEnd < r.winStart {
		r.winEnd = r.winStart
	}
	if !cpuDone {
		r.cpu.finish(r)
	}
	prog.done()
	for _, w := range r.workers {
		w.flush()
	}
}

// watch replaces connections whose replies are overdue. After the window
// their replies are unanswered rather than late: the connection is not
// replaced.
func (r *run) watch() {
	now := r.now()
	lim := int64(r.cfg.Timeout)
	why := int32(killTimeout)
	if r.ending.Load() {
		why = killUnanswered
	}
	for _, w := range r.workers {
		if l := w.last.Load(); l > 0 && now-l > lim {
			w.kill(why)
		}
	}
}

func (r *run) killAll(why int32) {
	for _, w := range r.workers {
		w.kill(why)
	}
}

// take grants up to k closed-loop sends. Warm-up sends are free; measured
// ones come out of the Count budget.
func (r *run) take(now int64, k int) int {
	if r.cfg.Count == 0 || now < r.warm {
		return k
	}
	left := r.budget.Add(int64(-k))
	if left >= 0 {
		return k
	}
	// Give back what is not granted, so the budget never stays below
	// zero and a refund (refund) makes a request available again.
	over := min(-left, int64(k))
	r.budget.Add(over)
	return k - int(over)
}

// exhausted reports whether a closed-loop Count run has sent all it may.
func (r *run) exhausted() bool {
	return r.cfg.Count > 0 && !r.open && r.budget.Load() <= 0 && r.now() >= r.warm
}

// pacer hands out open-loop send times on r.pace, each at its time, to
// whichever writer is free. Go's timers fire up to a millisecond late (the
// netpoller sleeps in whole milliseconds), which would read as schedule lag
// the server never caused; so the pacer sleeps on a timer until shortly
// before a send time and sleeps the rest with nanosleep(2), on its own
// thread with the kernel's timer slack at its minimum, which wakes within
// microseconds.
func (r *run) pacer() {
	defer close(r.pace)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	for t := int64(0); r.lastT == 0 || t < r.lastT; t++ {
		at := int64(float64(t) * r.interval)
		if at >= r.end {
			return
		}
		if d := at - r.now() - int64(2*time.Millisecond); d > 0 {
			tm := time.NewTimer(time.Duration(d))
			select {
			case <-tm.C:
			case <-r.endCh:
				tm.Stop()
				return
			}
		}
		for d := at - r.now(); d > 0 && !r.ending.Load(); d = at - r.now() {
			ts := unix.NsecToTimespec(d)
			unix.Nanosleep(&ts, nil)
		}
		// Tickets the writers had no time for are dropped when sending
		// ends, not sent late in the grace: the send rate shows them.
		select {
		case r.pace <- at:
		case <-r.endCh:
			return
		}
	}
}

const (
	killNone = iota
	killStop
	killTimeout
	killUnanswered // the grace after the window is over
)

// worker drives one connection at a time, replacing it when it fails.
type worker struct {
	r  *run
	id int
	sh *shard

	mu   sync.Mutex
	conn net.Conn
	why  atomic.Int32 // kill reason for the current connection

	last atomic.Int64 // ns of last progress while replies are owed; 0 idle
	done atomic.Int64 // measured replies, for the progress line
	nerr atomic.Int64 // measured errors, for the progress line

	// Owned by the worker goroutine(s); read after they finish.
	ok, sent         int64
	errs             [numKinds]int64
	lat, unc, lag, c []int64
	tlOK, tlErr      []int64
	backoff          time.Duration

	// Closed loop: send times of the replies owed, oldest first.
	ring      []int64
	head, out int
	rnow      int64
	onReply   func(kind)
	sess      session
	buf       []byte

	// Open loop: requests sent and not answered, oldest first; the head is
	// taken out while its reply is read.
	pend    chan sendRec
	slots   chan struct{}
	headRec sendRec
	hasHead bool
	held    int64 // a ticket taken but not sent when a connection broke
	hasHeld bool
	wend    int // why the writer stopped

	idleMarked bool // counted in run.idle
}

func (w *worker) init() {
	w.ring = make([]int64, w.r.depth)
	w.lat = make([]int64, 0, flushEvery)
	if w.r.open {
		w.unc = make([]int64, 0, flushEvery)
		w.lag = make([]int64, 0, flushEvery)
	}
	w.c = make([]int64, 0, 16)
	if w.r.echo != nil {
		w.sess = w.r.echo.session(w)
	} else {
		w.sess = w.r.http.session(w)
	}
	w.buf = make([]byte, w.sess.bufSize())
	w.onReply = func(k kind) {
		if w.r.open {
			if e, ok := w.popOpen(); ok {
				w.complete(e.intended, e.sent, w.rnow, k)
			}
			return
		}
		if w.out == 0 {
			return // the sessions check owed first; never counted twice
		}
		sent := w.ring[w.head]
		w.head++
		if w.head == len(w.ring) {
			w.head = 0
		}
		w.out--
		w.complete(sent, sent, w.rnow, k)
	}
}

// owed is how many replies the closed loop waits for; sessions use it to
// spot bytes nobody asked for.
func (w *worker) owed() int {
	if w.r.open {
		n := len(w.pend)
		if w.hasHead {
			n++
		}
		return n
	}
	return w.out
}

func (w *worker) kill(why int32) {
	w.mu.Lock()
	if w.conn != nil && w.why.Load() == killNone {
		w.why.Store(why)
		w.conn.SetDeadline(time.Unix(1, 0))
	}
	w.mu.Unlock()
}

func (w *worker) setConn(c net.Conn) {
	w.mu.Lock()
	w.conn = c
	w.why.Store(killNone)
	w.mu.Unlock()
	if w.r.stopped.Load() {
		w.kill(killStop)
	}
}

// dial connects, recording how long it took.
func (w *worker) dial() (net.Conn, error) {
	network := "tcp"
	if w.r.cfg.UDP {
		network = "udp"
	}
	t0 := w.r.now()
	d := net.Dialer{Timeout: w.r.cfg.Timeout, Deadline: w.r.base.Add(time.Duration(w.r.end))}
	c, err := d.Dial(network, w.r.addr)
	t1 := w.r.now()
	if err != nil {
		if !w.r.stopped.Load() && t1 < w.r.end {
			w.fail(t1, kindConnect, 1)
		}
		return nil, err
	}
	w.c = append(w.c, t1-t0)
	if len(w.c) == cap(w.c) {
		w.flush()
	}
	c.SetDeadline(w.r.base.Add(time.Duration(w.r.hard())))
	w.setConn(c)
	return c, nil
}

// pause backs off after a failed connect, so a dead server is not hammered.
func (w *worker) pause() bool {
	w.backoff = min(max(2*w.backoff, 10*time.Millisecond), 200*time.Millisecond)
	t := time.NewTimer(w.backoff)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.r.endCh:
		return false
	}
}

// markIdle tells the run this worker has nothing more to send or read.
func (w *worker) markIdle() {
	if !w.idleMarked {
		w.idleMarked = true
		w.r.idle.Add(1)
		select {
		case w.r.idleCh <- struct{}{}:
		default:
		}
	}
}

// park holds a connection that has nothing more to do open until the run
// stops. Closing it early would let a server that serves one connection at
// a time answer the next one in the grace, and hide that it starved it all
// through the window.
func (w *worker) park() {
	w.markIdle()
	<-w.r.stopCh
}

func (w *worker) loop() {
	r := w.r
	defer w.markIdle()
	for !r.ending.Load() && !r.exhausted() {
		c, err := w.dial()
		if err != nil {
			if !w.pause() {
				return
			}
			continue
		}
		w.backoff = 0
		var more bool
		if r.open {
			more = w.openConn(c)
		} else {
			more = w.closedConn(c)
		}
		w.mu.Lock()
		w.conn = nil
		w.mu.Unlock()
		c.Close()
		w.last.Store(0)
		if !more {
			return
		}
	}
}

// closedConn runs the closed loop on c: keep depth requests in flight, and
// send as many new ones as replies came back. It returns whether the worker
// should go on with a new connection.
func (w *worker) closedConn(c net.Conn) bool {
	r, s := w.r, w.sess
	s.reset()
	w.head, w.out = 0, 0
	oneShot := r.http != nil && r.cfg.HTTP.NoKeepAlive
	sentAny := false
	for {
		if oneShot && sentAny {
			if w.out == 0 {
				return w.drainClose(c)
			}
		} else if k := r.depth - w.out; k > 0 && !r.ending.Load() {
			now := r.now()
			if now >= r.end {
				k = 0 // the window is over; the run is about to say so
			} else {
				k = r.take(now, k)
			}
			if k > 0 {
				for i := range k {
					w.ring[(w.head+w.out+i)%len(w.ring)] = now
				}
				if w.out == 0 {
					w.last.Store(now)
				}
				w.out += k
				w.countSent(now, k)
				sentAny = true
				if err := s.send(c, k); err != nil {
					return w.broken(c, err)
				}
			}
		}
		if w.out == 0 {
			// Sending is over (the window ended, or the budget is
			// spent) and nothing is owed.
			w.park()
			return false
		}
		n, err := c.Read(w.buf)
		if n > 0 {
			w.rnow = r.now()
			w.last.Store(w.rnow)
			switch k := s.feed(w.buf[:n]); k {
			case kindOK:
			case kindAgain:
				// The server ended the connection cleanly; requests
				// pipelined behind its last reply go again on the next.
				w.refund()
				return true
			default:
				return w.broken(c, k)
			}
			if w.out == 0 {
				w.last.Store(0)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				w.rnow = r.now()
				if s.eof() {
					return !oneShot || !r.stopped.Load()
				}
			}
			return w.broken(c, err)
		}
	}
}

// refund returns the requests still owed on a connection the server closed
// cleanly to the Count budget, so that they are sent again.
func (w *worker) refund() {
	r := w.r
	for i := range w.out {
		if r.cfg.Count > 0 && w.ring[(w.head+i)%len(w.ring)] >= r.warm {
			r.budget.Add(1)
			w.sent--
		}
	}
	w.out = 0
}

// drainClose waits for the server to close a Connection: close connection,
// so the TIME_WAIT state lands on the server's side as with any client.
func (w *worker) drainClose(c net.Conn) bool {
	// A server that keeps the connection open anyway gets Timeout.
	if d := time.Now().Add(w.r.cfg.Timeout); d.Before(w.r.base.Add(time.Duration(w.r.hard()))) {
		c.SetReadDeadline(d)
	}
	for {
		_, err := c.Read(w.buf)
		if err != nil {
			return !w.r.stopped.Load()
		}
	}
}

// broken ends a connection that failed with err (an error or a kind): the
// replies still owed count as errors of that kind, unless the run was
// stopped (interrupted, or over with nothing owed).
func (w *worker) broken(c net.Conn, err any) bool {
	k := w.classify(err)
	if k != kindStop {
		now := w.r.now()
		for w.out > 0 {
			w.rnow = now
			w.onReply(k)
		}
	}
	w.out = 0
	return !w.r.stopped.Load()
}

func (w *worker) classify(err any) kind {
	switch w.why.Load() {
	case killStop:
		return kindStop
	case killTimeout:
		return kindTimeout
	case killUnanswered:
		return kindUnanswered
	}
	if w.r.stopped.Load() {
		return kindStop
	}
	switch e := err.(type) {
	case kind:
		return e
	case error:
		switch {
		case errors.Is(e, os.ErrDeadlineExceeded):
			if w.r.ending.Load() {
				return kindUnanswered // the grace ran out
			}
			return kindTimeout
		case errors.Is(e, io.EOF), errors.Is(e, io.ErrUnexpectedEOF), errors.Is(e, syscall.ECONNRESET),
			errors.Is(e, syscall.EPIPE), errors.Is(e, syscall.ECONNREFUSED), errors.Is(e, net.ErrClosed):
			return kindClosed
		}
	}
	return kindIO
}

func (w *worker) countSent(at int64, k int) {
	if at >= w.r.warm && at < w.r.end {
		w.sent += int64(k)
	}
}

// complete records one reply: intended is when the schedule meant to send
// the request, sent when it went out, now when the reply was complete.
// Good replies count for the window their request was sent in (so a reply
// in the grace after the window counts, and one to a warm-up request does
// not); failures count when they happen, after the warm-up, whenever the
// request was sent: a warm-up request still unanswered at the end failed
// in the window.
func (w *worker) complete(intended, sent, now int64, k kind) {
	r := w.r
	if k != kindOK {
		w.fail(now, k, 1)
		return
	}
	if intended < r.warm || intended >= r.end {
		return
	}
	w.ok++
	w.done.Add(1)
	w.lat = append(w.lat, now-intended)
	if r.open {
		w.unc = append(w.unc, now-sent)
		w.lag = append(w.lag, sent-intended)
	}
	if len(w.lat) == cap(w.lat) {
		w.flush()
	}
	w.tlOK = bump(w.tlOK, r.slot(now), 1)
}

// slot is the timeline bucket of time now; what happens in the grace goes
// to the window's last.
func (r *run) slot(now int64) int64 {
	return (min(now, r.end-1) - r.warm) / r.bucket
}

func (w *worker) fail(now int64, k kind, n int64) {
	r := w.r
	if now < r.warm {
		return
	}
	w.errs[k] += n
	w.nerr.Add(n)
	w.tlErr = bump(w.tlErr, r.slot(now), n)
}

func bump(s []int64, i, n int64) []int64 {
	for int64(len(s)) <= i {
		s = append(s, 0)
	}
	s[i] += n
	return s
}

// flush moves the worker's batched values into its shard's histograms.
func (w *worker) flush() {
	sh := w.sh
	sh.mu.Lock()
	for _, v := range w.lat {
		recordHist(sh.lat, v)
	}
	for _, v := range w.unc {
		recordHist(sh.unc, v)
	}
	for _, v := range w.lag {
		recordHist(sh.lag, v)
	}
	for _, v := range w.c {
		recordHist(sh.conn, v)
	}
	sh.mu.Unlock()
	w.lat, w.unc, w.lag, w.c = w.lat[:0], w.unc[:0], w.lag[:0], w.c[:0]
}
