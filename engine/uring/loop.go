//go:build linux

package uring

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/portside/portside/engine/internal/reasons"
	"github.com/portside/portside/engine/internal/sock"
	"github.com/portside/portside/engine/internal/wheel"
	"github.com/portside/portside/server"
)

const (
	// ringEntries is each loop's submission ring; completions get twice
	// as many.
	ringEntries = 4096
	// Receive buffers: the kernel picks one when data arrives, so a
	// connection waiting for input owns none. They are handed back as
	// soon as the handler has seen the bytes. The kernel takes them in
	// ring order, so the fewer there are the warmer in cache the next one
	// is: with 1,024 the engine spent measurably more time copying into
	// cold buffers than epoll's one hot buffer does. A turn with more
	// receives completing than there are buffers gets ENOBUFS for the
	// rest, which are armed again on the next turn.
	nBufs   = 128
	bufSize = 4096

	maxIovecs = 64
	// fileChunk is how much of a file one send takes: WriteFile reads it
	// into a buffer and sends that.
	fileChunk = 64 << 10
	// acceptBackoff pauses accepting when the process is out of
	// descriptors.
	acceptBackoff = 100 * time.Millisecond
)

// recvBufs is nBufs; tests lower it to make receives run out of buffers.
var recvBufs = nBufs

// Kinds of operation, in the low byte of a request's user data; the rest
// is the connection's descriptor. A descriptor is closed only once none of
// its operations is in flight, so a completion always names the
// connection that asked for it.
const (
	kindAccept = iota + 1
	kindWake
	kindRecv
	kindSend
	kindCancel
)

// loop is one event loop: a ring, its goroutine, and the connections it
// owns.
type loop struct {
	r         *run
	ring      *ring
	efd       int // eventfd for wake-ups
	lfd       int // the listener, on loop 0 while accepting; else -1
	accepting bool
	conns     []*conn            // by descriptor
	live      int                // admitted connections not yet closed
	inflight  int                // receives and sends in flight
	now       int64              // ns since r.start, read once per wake-up
	wheel     wheel.Wheel[*conn] // idle timeouts
	twheel    wheel.Wheel[*conn] // the handlers' connection timers, made on first use
	later     []*conn            // connections to settle again on the next turn (see settle)
	idle      int64              // the idle timeout in ns, 0 for none
	maxQueue  int
	fatal     error // the ring failed: the loop gives up
	spareSQE  sqe   // filled instead of a real entry once the ring has failed
	sends     []*sendOp

	lingerQ    []*conn // closing connections discarding input, in deadline order
	lingerHd   int
	bytesOut   int64 // added to stats once per wake-up
	stats      *server.Stats
	acceptAt   int64 // when accepting resumes after running out of descriptors; 0 if not paused
	stopping   bool
	drainEnd   int64
	shutdown   bool // set by a posted command
	stopAccept bool

	// As in the epoll engine: cur is the connection whose callback is
	// running, so that its own writes need no wake-up; dispatching is set
	// while the loop is between waits and will look at its pending list
	// before the next one.
	cur         atomic.Uintptr
	dispatching atomic.Bool
	woken       atomic.Bool // an eventfd write is outstanding
	npending    atomic.Int32

	mu      sync.Mutex
	pending []*conn
	handoff []*conn
	cmds    []func(*loop)
	exited  bool

	spareP []*conn
	spareH []*conn

	why reasons.Book[*conn] // the reasons CloseWith gave, until the loop takes them
}

// sendOp is one send in flight: the kernel reads msg, iov and file until
// it completes, so they live here, not on a stack.
type sendOp struct {
	msg  unix.Msghdr
	iov  [maxIovecs]unix.Iovec
	file *[fileChunk]byte // a file's bytes being sent; nil for queued chunks
}

var filePool = sync.Pool{New: func() any { return new([fileChunk]byte) }}

func newLoop(r *run) (*loop, error) {
	rg, err := newRing(ringEntries, recvBufs, bufSize, true)
	if err != nil {
		return nil, err
	}
	// Blocking: the ring's read of it waits for a write, and writers
	// write only when no write is outstanding, so theirs never block.
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		rg.close()
		return nil, fmt.Errorf("uring: eventfd: %w", err)
	}
	l := &loop{
		r:        r,
		ring:     rg,
		efd:      efd,
		lfd:      -1,
		maxQueue: r.lim.MaxQueue,
		stats:    r.s.Stats,
	}
	if r.lim.IdleTimeout > 0 {
		l.idle = int64(r.lim.IdleTimeout)
		l.wheel = wheel.ForIdle[*conn](r.lim.IdleTimeout)
	}
	l.armWake()
	return l, nil
}

func (l *loop) listen(lfd int) error {
	l.lfd = lfd
	l.armAccept()
	return l.fatal
}

func (l *loop) closeFDs() {
	l.ring.close()
	unix.Close(l.efd)
}

func (l *loop) clock() { l.now = int64(time.Since(l.r.start)) }

// sqe returns a submission entry to fill. Should the ring fail, it records
// the failure for the loop to give up on and returns a scratch entry.
func (l *loop) sqe() *sqe {
	if l.fatal == nil {
		s, err := l.ring.get()
		if err == nil {
			return s
		}
		l.fatal = err
	}
	l.spareSQE = sqe{}
	return &l.spareSQE
}

func (l *loop) armWake() {
	s := l.sqe()
	s.opcode = opRead
	s.fd = int32(l.efd)
	s.addr = uint64(uintptr(unsafe.Pointer(&l.ring.scratch[0])))
	s.len = 8
	s.userData = kindWake
}

func (l *loop) armAccept() {
	s := l.sqe()
	s.opcode = opAccept
	s.fd = int32(l.lfd)
	s.ioprio = acceptMultishot
	s.opFlags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
	s.userData = kindAccept
	l.accepting = true
}

// post runs fn on the loop.
func (l *loop) post(fn func(*loop)) {
	l.mu.Lock()
	l.cmds = append(l.cmds, fn)
	l.npending.Add(1)
	l.wakeLocked()
	l.mu.Unlock()
}

// wakeLocked writes the eventfd unless the loop will look at its pending
// list anyway. l.mu is held, so the loop cannot have closed the eventfd.
func (l *loop) wakeLocked() {
	if l.exited || l.dispatching.Load() || !l.woken.CompareAndSwap(false, true) {
		return
	}
	one := [8]byte{1}
	for {
		_, err := unix.Write(l.efd, one[:])
		if err != unix.EINTR {
			return
		}
	}
}

func (l *loop) run() {
	// The ring has one submitter, this thread, so that the kernel can
	// leave completions' work to the waits in io_uring_enter.
	runtime.LockOSThread()
	if err := l.ring.enable(); err != nil {
		l.fatal = err
	}
	defer func() {
		l.mu.Lock()
		l.exited = true
		l.mu.Unlock()
		l.closeFDs()
	}()
	for {
		if l.fatal == nil {
			// The one io_uring_enter of the turn: it submits what the
			// last turn queued and waits for a completion, a wake-up
			// or the next deadline.
			wait := len(l.later) == 0
			if wait && l.r.spawner {
				runtime.Gosched() // as epoll does: see server.Spawner
			}
			_, err := l.ring.enter(wait, l.waitTimeout())
			if err != nil && l.fatal == nil {
				l.fatal = err
			}
		}
		if l.fatal != nil {
			l.abandon(l.fatal)
			return
		}
		l.clock()
		l.dispatching.Store(true)
		l.reap()
		for {
			if l.npending.Load() != 0 {
				l.runPending()
			}
			l.dispatching.Store(false)
			if l.npending.Load() == 0 {
				break
			}
			l.dispatching.Store(true)
		}
		l.timers()
		l.flushStats()
		if l.stopping && l.live == 0 && l.lingerHd == len(l.lingerQ) && l.npending.Load() == 0 && l.inflight == 0 {
			return
		}
	}
}

// reap handles every completion waiting, including those that handling
// the first ones brings.
func (l *loop) reap() {
	for {
		e, ok := l.ring.next()
		if !ok {
			break
		}
		l.complete(e.userData, e.res, e.flags)
	}
	l.ring.publishBufs()
}

func (l *loop) complete(ud uint64, res int32, flags uint32) {
	switch ud & 0xff {
	case kindWake:
		l.woken.Store(false)
		l.armWake()
	case kindAccept:
		l.accepted(res, flags)
	case kindRecv:
		c := l.conns[int(ud>>8)]
		c.recvIn = false
		l.inflight--
		l.received(c, res, flags)
		l.settleShut(c)
	case kindSend:
		c := l.conns[int(ud>>8)]
		c.sendIn = false
		l.inflight--
		l.sendDone(c, res)
		l.settleShut(c)
	}
}

// settleShut closes c's descriptor once its last operation is done.
func (l *loop) settleShut(c *conn) {
	if c.shut && !c.recvIn && !c.sendIn {
		l.closeNow(c)
	}
}

// abandon gives up a loop whose ring has failed, which only a bug can
// cause: it closes every connection with err and fails Serve.
func (l *loop) abandon(err error) {
	l.r.s.Logger.Error("event loop failed", "service", l.r.s.Name, "err", err)
	l.r.fail(err)
	l.stopAccepting()
	l.mu.Lock()
	hand := l.handoff
	l.handoff = nil
	l.exited = true
	l.mu.Unlock()
	for _, c := range hand {
		l.setConn(c)
		l.live++
		l.finish(c, err, false)
	}
	for _, c := range l.conns {
		if c != nil {
			l.finish(c, err, false)
			l.closeNow(c)
		}
	}
}

func (l *loop) flushStats() {
	if l.bytesOut != 0 {
		l.stats.BytesOut.Add(l.bytesOut)
		l.bytesOut = 0
	}
}

// waitTimeout is how long the wait may sleep, in ns: until the next timer;
// -1 for no limit.
func (l *loop) waitTimeout() int64 {
	if len(l.later) > 0 {
		return 0
	}
	next := l.wheel.Next()
	min := func(t int64) {
		if t > 0 && (next < 0 || t < next) {
			next = t
		}
	}
	min(l.twheel.Next())
	if l.lingerHd < len(l.lingerQ) {
		min(l.lingerQ[l.lingerHd].lingerEnd)
	}
	if l.stopping {
		min(l.drainEnd)
	}
	min(l.acceptAt)
	if next < 0 {
		return -1
	}
	// Read the clock again: the turn's callbacks took time.
	return max(next-int64(time.Since(l.r.start)), 0)
}

func (l *loop) runPending() {
	l.mu.Lock()
	pend, hand, cmds := l.pending, l.handoff, l.cmds
	l.pending, l.handoff, l.cmds = l.spareP[:0], l.spareH[:0], nil
	l.npending.Store(0)
	l.mu.Unlock()
	for _, c := range hand {
		l.open(c)
	}
	for _, c := range pend {
		c.flags.And(^uint32(flagNotified))
		if !c.done {
			l.settle(c)
		}
	}
	for _, fn := range cmds {
		fn(l)
	}
	if l.stopAccept {
		l.stopAccept = false
		l.stopAccepting()
	}
	if l.shutdown && !l.stopping {
		l.beginShutdown()
	}
	clear(pend)
	clear(hand)
	l.spareP, l.spareH = pend, hand
}

// timers closes idle connections, ends lingering, enforces the drain
// deadline and resumes accepting.
func (l *loop) timers() {
	now := l.now
	if l.idle > 0 && l.wheel.Len() > 0 && now >= l.wheel.Next() {
		l.wheel.Advance(now, l.due)
	}
	if l.twheel.Len() > 0 && now >= l.twheel.Next() {
		l.twheel.Advance(now, l.fire)
	}
	if len(l.later) > 0 {
		later := l.later
		l.later = nil
		for _, c := range later {
			l.settle(c)
		}
	}
	for l.lingerHd < len(l.lingerQ) {
		c := l.lingerQ[l.lingerHd]
		if c.lingering && c.lingerEnd > now && !l.stopping {
			break
		}
		l.lingerQ[l.lingerHd] = nil
		l.lingerHd++
		if c.lingering {
			l.closeFD(c)
		}
	}
	if l.lingerHd == len(l.lingerQ) {
		l.lingerQ, l.lingerHd = l.lingerQ[:0], 0
	}
	if l.stopping && now >= l.drainEnd && l.live > 0 {
		for _, c := range l.conns {
			if c != nil && !c.done && !c.refused {
				l.finish(c, server.ErrShutdown, true)
			}
		}
	}
	if l.acceptAt != 0 && now >= l.acceptAt {
		l.acceptAt = 0
		if l.lfd >= 0 && !l.accepting {
			l.armAccept()
		}
	}
}

// due is called by the wheel for a connection whose deadline may be past.
func (l *loop) due(x *wheel.Node[*conn]) {
	c := x.Owner
	if c.done {
		return
	}
	deadline := c.active + l.idle
	if deadline > l.now {
		l.wheel.Add(x, deadline, l.now)
		return
	}
	err := c.err
	if !c.closing || err == nil {
		err = server.ErrIdleTimeout
	}
	l.finish(c, err, true)
}

// accepted handles a completion of the multishot accept: a new
// connection, or the end of the accept, which is armed again unless the
// loop has stopped accepting or ran out of descriptors.
func (l *loop) accepted(res int32, flags uint32) {
	if flags&cqeFMore == 0 {
		l.accepting = false
	}
	if res >= 0 {
		if l.lfd < 0 {
			// Accepted as the listener was being closed: like a
			// connection left in the backlog, it is reset.
			unix.Close(int(res))
			return
		}
		l.admit(int(res))
	} else {
		switch err := unix.Errno(-res); err {
		case unix.ECANCELED, unix.EINTR, unix.EAGAIN, unix.ECONNABORTED, unix.EPROTO, unix.EPERM:
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			if l.lfd >= 0 {
				l.r.s.Logger.Warn("accept paused", "service", l.r.s.Name, "err", err)
				l.acceptAt = l.now + int64(acceptBackoff)
				if l.accepting {
					l.cancel(kindAccept)
				}
			}
		default:
			if l.lfd >= 0 {
				l.r.s.Logger.Error("accept", "service", l.r.s.Name, "err", err)
				l.r.fail(fmt.Errorf("uring: accept: %w", err))
				l.stopAccepting()
			}
			return
		}
	}
	if !l.accepting && l.lfd >= 0 && l.acceptAt == 0 {
		l.armAccept()
	}
}

// cancel cancels the request with user data ud.
func (l *loop) cancel(ud uint64) {
	s := l.sqe()
	s.opcode = opAsyncCancel
	s.fd = -1
	s.addr = ud
	s.userData = kindCancel
}

func (l *loop) admit(fd int) {
	// Like the Go runtime, disable Nagle: handlers write whole replies.
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	var remote net.Addr
	if sa, err := unix.Getpeername(fd); err == nil {
		remote = sock.TCPAddr(sa)
	}
	r := l.r
	if err := r.s.Admit(remote); err != nil {
		if msg := r.s.Refusal(err); len(msg) > 0 {
			unix.Write(fd, msg)
		}
		c := newConn(l, fd)
		c.refused, c.done = true, true
		l.setConn(c)
		l.linger(c)
		return
	}
	c := newConn(nil, fd)
	var local net.Addr
	if r.local != nil {
		local = r.local
	} else if lsa, err := unix.Getsockname(fd); err == nil {
		// A wildcard listener: each connection has its own address.
		local = sock.TCPAddr(lsa)
	}
	c.InitBase(local, remote)
	t := r.loops[r.next%len(r.loops)]
	r.next++
	c.l = t
	if t == l {
		l.open(c)
		return
	}
	t.mu.Lock()
	if t.exited {
		t.mu.Unlock()
		// The loop has failed: admitted, so the handler hears Close.
		r.s.Closed(c, errLoopGone)
		unix.Close(fd)
		return
	}
	t.handoff = append(t.handoff, c)
	t.npending.Add(1)
	t.wakeLocked()
	t.mu.Unlock()
}

var errLoopGone = errors.New("uring: the connection's event loop has failed")

func (l *loop) setConn(c *conn) {
	if int(c.fd) >= len(l.conns) {
		n := max(2*len(l.conns), int(c.fd)+1, 64)
		conns := make([]*conn, n)
		copy(conns, l.conns)
		l.conns = conns
	}
	l.conns[int(c.fd)] = c
}

func (l *loop) stopAccepting() {
	if l.lfd >= 0 {
		if l.accepting {
			// The multishot accept holds the listener open until it
			// ends; what it still delivers is closed (see accepted).
			l.cancel(kindAccept)
		}
		unix.Close(l.lfd)
		l.lfd = -1
	}
	l.r.stopOnce.Do(func() { close(l.r.stopped) })
}

// open takes an admitted connection and calls the handler's Open.
func (l *loop) open(c *conn) {
	l.setConn(c)
	l.live++
	c.active = l.now
	if l.idle > 0 {
		l.wheel.Add(&c.idle, c.active+l.idle, l.now)
	}
	if !l.callOpen(c) {
		return
	}
	if l.stopping {
		l.drain(c)
		return
	}
	l.settle(c)
}

func (l *loop) beginShutdown() {
	l.stopping = true
	l.drainEnd = l.now + int64(l.r.lim.DrainTimeout)
	for _, c := range l.conns {
		if c == nil {
			continue
		}
		if c.lingering {
			l.closeFD(c)
			continue
		}
		if !c.done {
			l.drain(c)
		}
	}
}

// drain starts c's graceful shutdown: the handler's Drain if it has one,
// else flush and close.
func (l *loop) drain(c *conn) {
	if c.closing {
		return
	}
	if d := l.r.drainer; d != nil {
		// Reading pauses as by PauseRead: a Drainer that needs more
		// input to finish what it started calls ResumeRead.
		c.upaused = true
		c.mu.Lock()
		c.readPaused = true
		c.mu.Unlock()
		if l.call(c, d.Drain) {
			l.settle(c)
		}
		return
	}
	l.beginClose(c, nil)
}

func (c *conn) reading() bool {
	return !c.eof && !c.closing && !c.paused && !c.upaused && !c.done
}

// received handles a receive's completion: bytes in a provided buffer, the
// peer's EOF, or an error.
func (l *loop) received(c *conn, res int32, flags uint32) {
	var b []byte
	if flags&cqeFBuffer != 0 {
		bid := uint16(flags >> cqeBufShift)
		b = l.ring.buf(bid, int(max(res, 0)))
		defer l.ring.putBuf(bid) // once the handler has seen the bytes
	}
	if c.shut {
		return
	}
	if c.lingering {
		if res > 0 || res == -int32(unix.ENOBUFS) || res == -int32(unix.EINTR) {
			l.arm(c)
			return
		}
		l.closeFD(c)
		return
	}
	if c.done {
		return
	}
	switch {
	case res == -int32(unix.ENOBUFS):
		// Every buffer was taken when the data came: try again once
		// this turn's completions have given theirs back.
		l.later = append(l.later, c)
		return
	case res == -int32(unix.EINTR) || res == -int32(unix.EAGAIN):
		l.arm(c)
		return
	case res < 0:
		l.finish(c, fmt.Errorf("uring: recv: %w", unix.Errno(-res)), false)
		return
	}
	if c.flags.Load()&flagControl != 0 {
		// A pause asked from another goroutine is honoured before
		// this input is handed over, not after.
		l.applyControl(c) // a resumption's kept input goes with these bytes
	}
	if res > 0 {
		// Counted before the handler sees the bytes, so that a handler
		// reporting the counters includes them, as under every engine;
		// and so are sends completed in this batch of completions,
		// which the peer may have answered already.
		l.stats.BytesIn.Add(int64(res))
		l.flushStats()
		c.active = l.now
	}
	if !c.reading() || c.held {
		// The receive was in flight when reading paused: keep what it
		// brought for when reading resumes.
		if res == 0 {
			c.heldEOF = true
		} else if c.in == nil {
			c.keepInput(b)
		} else {
			c.in = append(c.in, b...)
		}
		c.held = true
		l.settle(c)
		return
	}
	if res == 0 {
		l.readEOF(c)
		return
	}
	l.data(c, b)
}

func (l *loop) data(c *conn, b []byte) {
	in := b
	if len(c.in) > 0 {
		c.in = append(c.in, b...)
		in = c.in
	}
	k, err, ok := l.callData(c, in)
	if !ok {
		return
	}
	if err == nil && (k < 0 || k > len(in)) {
		err = fmt.Errorf("uring: Data consumed %d of %d bytes", k, len(in))
	}
	if err != nil {
		c.releaseInput()
		l.beginClose(c, &server.HandlerError{Err: err})
		return
	}
	switch rest := in[k:]; {
	case len(rest) == 0:
		c.releaseInput()
	case len(rest) > l.r.lim.MaxInput:
		c.releaseInput()
		l.beginClose(c, server.ErrInputTooLarge)
		return
	default:
		c.keepInput(rest)
	}
	l.settle(c)
}

func (l *loop) readEOF(c *conn) {
	c.eof = true
	if h := l.r.eofh; h != nil && !c.closing {
		if !l.call(c, func(server.Conn) { h.ReadEOF(c, c.in) }) {
			return
		}
		c.releaseInput()
		l.settle(c)
		return
	}
	c.releaseInput()
	l.beginClose(c, nil)
}

// beginClose stops reading and closes c with err once its queue is flushed.
func (l *loop) beginClose(c *conn, err error) {
	if c.done {
		return
	}
	if !c.closing {
		c.closing, c.err = true, err
	}
	c.mu.Lock()
	c.closeReq = true
	c.mu.Unlock()
	l.settle(c)
}

// settle brings c up to date after a callback, a completion or a wake-up:
// it applies what the handler asked (timer, pause, Drained), hands over
// input kept while reading was paused, acts on a close asked for, starts a
// send, calls Drained if it is due, and keeps a receive in flight while c
// is reading.
func (l *loop) settle(c *conn) {
	if c.done {
		return
	}
	if c.flags.Load()&flagControl != 0 && l.applyControl(c) {
		l.data(c, nil) // reading resumed: the kept input again
		return
	}
	if c.held && c.reading() {
		// Reading resumed: hand over what came while it was paused.
		c.held = false
		eof := c.heldEOF
		c.heldEOF = false
		if len(c.in) > 0 {
			l.data(c, nil) // which settles c
			if !eof || c.done {
				return
			}
		}
		if eof {
			if c.reading() {
				l.readEOF(c)
			} else {
				c.held, c.heldEOF = true, true // paused again meanwhile
			}
			return
		}
	}
	empty, mem, queued, closeReq, abort, err := l.flush(c)
	if abort != nil {
		l.finish(c, abort, false)
		return
	}
	if err != nil {
		l.finish(c, err, false)
		return
	}
	if closeReq && !c.closing {
		c.closing, c.err = true, l.why.Take(c)
	}
	if c.closing && empty {
		l.finish(c, c.err, true)
		return
	}
	hw := l.r.lim.HighWater
	if !c.paused && mem > hw {
		c.paused = true
	} else if c.paused && mem <= l.r.lim.LowWater() {
		c.paused = false
		if c.held {
			l.later = append(l.later, c)
		}
	}
	if c.drainWait && !c.closing && c.drainDue(queued) {
		c.drainWait = false
		if l.call(c, l.r.dh.Drained) {
			// Settled again after this turn's completions, so that a
			// handler asking for Drained from Drained cannot hold
			// the loop.
			l.later = append(l.later, c)
		}
		return
	}
	l.arm(c)
}

// arm keeps one receive in flight while c is reading (or lingering). The
// kernel picks the buffer from the loop's provided ring when data comes.
func (l *loop) arm(c *conn) {
	if c.recvIn || c.shut || c.fd < 0 || !(c.lingering || c.reading() && !c.held) {
		return
	}
	s := l.sqe()
	s.opcode = opRecv
	s.fd = c.fd
	s.flags = sqeBufferSelect
	s.bufIndex = bufGroup
	s.userData = uint64(c.fd)<<8 | kindRecv
	c.recvIn = true
	l.inflight++
}

// flush starts a send of the head of the queue unless one is in flight.
// It reports whether the queue is empty, the bytes still held in memory,
// and the close state writers have set.
func (l *loop) flush(c *conn) (empty bool, mem int, queued int64, closeReq bool, abort, err error) {
	c.mu.Lock()
	closeReq = c.closeReq
	if c.slow {
		abort = server.ErrSlowConsumer
		c.mu.Unlock()
		return
	}
	if !c.sendIn && !c.out.Empty() && !c.shut {
		err = l.startSend(c)
	}
	empty, mem, queued = c.out.Empty(), c.out.Mem(), c.out.Queued()
	c.mu.Unlock()
	return empty, mem, queued, closeReq, nil, err
}

var errShortFile = errors.New("uring: file shorter than the range queued")

// startSend submits one send of what heads c's queue: the chunks in one
// SEND or SENDMSG, or a file's next bytes, read into a buffer first. mu is
// held.
func (l *loop) startSend(c *conn) error {
	var op *sendOp
	if k := len(l.sends); k > 0 {
		op = l.sends[k-1]
		l.sends = l.sends[:k-1]
	} else {
		op = new(sendOp)
	}
	var addr uint64
	var n uint32
	opcode := uint8(opSend)
	if s := c.out.Head(); s.F != nil {
		op.file = filePool.Get().(*[fileChunk]byte)
		want := int(min(s.N, fileChunk))
		var m int
		var rerr error
		for {
			m, rerr = unix.Pread(int(s.F.Fd()), op.file[:want], s.Off)
			if rerr != unix.EINTR {
				break
			}
		}
		if rerr != nil || m == 0 {
			l.putSend(op)
			if rerr != nil {
				return fmt.Errorf("uring: read file: %w", rerr)
			}
			return errShortFile
		}
		addr, n = uint64(uintptr(unsafe.Pointer(&op.file[0]))), uint32(m)
	} else {
		iov, _ := c.out.Iovecs(op.iov[:0])
		k := len(iov)
		if k == 1 {
			addr, n = uint64(uintptr(unsafe.Pointer(op.iov[0].Base))), uint32(op.iov[0].Len)
		} else {
			op.msg = unix.Msghdr{Iov: &op.iov[0], Iovlen: uint64(k)}
			addr, opcode = uint64(uintptr(unsafe.Pointer(&op.msg))), opSendmsg
		}
	}
	s := l.sqe()
	s.opcode = opcode
	s.fd = c.fd
	s.addr = addr
	s.len = n
	s.opFlags = unix.MSG_NOSIGNAL
	s.userData = uint64(c.fd)<<8 | kindSend
	c.snd = op
	c.sendIn = true
	l.inflight++
	return nil
}

func (l *loop) putSend(op *sendOp) {
	if op.file != nil {
		filePool.Put(op.file)
		op.file = nil
	}
	clear(op.iov[:]) // hold no chunk beyond its use
	op.msg = unix.Msghdr{}
	l.sends = append(l.sends, op)
}

// sendDone handles a send's completion: it takes what was sent off the
// queue, and starts the next send through settle.
func (l *loop) sendDone(c *conn, res int32) {
	op := c.snd
	c.snd = nil
	c.mu.Lock()
	if c.dropOut {
		c.dropOut = false
		c.releaseOutLocked()
		c.mu.Unlock()
		l.putSend(op)
		return
	}
	var err error
	if res < 0 {
		err = fmt.Errorf("uring: send: %w", unix.Errno(-res))
	} else if n := int64(res); !c.out.Empty() && c.out.Head().F != nil {
		c.out.Head().Off += n
		l.sentFile(c, n)
	} else {
		l.sent(c, int(n))
	}
	c.mu.Unlock()
	l.putSend(op)
	if c.done {
		return
	}
	if err != nil {
		if c.eof && (errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET)) {
			// The peer has gone after shutting its side: a clean close.
			err = c.err
		}
		l.finish(c, err, false)
		return
	}
	l.settle(c)
}

func (l *loop) sent(c *conn, n int) {
	if n <= 0 {
		return
	}
	c.out.Sent(n)
	l.bytesOut += int64(n)
	c.active = l.now
}

func (l *loop) sentFile(c *conn, n int64) {
	c.out.FileSent(n)
	l.bytesOut += n
	c.active = l.now
}

// finish ends an admitted connection: it tells the service, then either
// shuts the write side and lingers (graceful) or closes at once.
func (l *loop) finish(c *conn, err error, graceful bool) {
	if c.done {
		return
	}
	c.done = true
	c.closing = true
	c.mu.Lock()
	c.closeReq = true
	c.releaseOutLocked()
	tm := c.tm // SetTimer may make it from another goroutine
	c.mu.Unlock()
	c.releaseInput()
	c.held, c.heldEOF = false, false
	l.wheel.Remove(&c.idle)
	if tm != nil {
		l.twheel.Remove(&tm.node)
	}
	// A reason CloseWith gave is taken here if the loop had not seen the
	// request yet, and forgotten in any case.
	if why := l.why.Take(c); err == nil {
		err = why
	}
	l.live--
	// Sends completed this turn are counted before the handler hears
	// of the close: the peer may have read them and gone already.
	l.flushStats()
	l.r.s.Closed(c, err)
	if graceful {
		l.linger(c)
		return
	}
	l.closeFD(c)
}

// linger shuts c's write side, so the peer reads our last bytes and then
// EOF, and keeps the socket until the peer closes too (or lingerTimeout),
// discarding its input: closing with unread input would send an RST.
func (l *loop) linger(c *conn) {
	if c.fd < 0 {
		return
	}
	unix.Shutdown(int(c.fd), unix.SHUT_WR)
	if l.stopping {
		l.closeFD(c)
		return
	}
	c.lingering = true
	c.lingerEnd = l.now + int64(lingerTimeout)
	l.lingerQ = append(l.lingerQ, c)
	l.arm(c)
}

// closeFD closes c's descriptor, first cancelling what is in flight on it:
// the descriptor is closed when the last of those completes.
func (l *loop) closeFD(c *conn) {
	if c.fd < 0 || c.shut {
		return
	}
	c.lingering = false
	if (c.recvIn || c.sendIn) && l.fatal == nil {
		c.shut = true
		s := l.sqe()
		s.opcode = opAsyncCancel
		s.fd = c.fd
		s.opFlags = cancelFD | cancelAll
		s.userData = kindCancel
		return
	}
	l.closeNow(c)
}

func (l *loop) closeNow(c *conn) {
	if c.fd < 0 {
		return
	}
	c.shut, c.lingering = false, false
	l.conns[int(c.fd)] = nil
	unix.Close(int(c.fd))
	c.fd = -1
}
