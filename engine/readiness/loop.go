//go:build linux

package readiness

import (
	"errors"
	"fmt"
	"io"
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
	readBufSize = 64 << 10
	maxIovecs   = 64
	acceptBatch = 64
	// acceptBackoff pauses accepting when the process is out of
	// descriptors: the listener stays readable, and the loop would
	// otherwise spin on it.
	acceptBackoff = 100 * time.Millisecond
	// blindPeriod is how often the loop reads what a lingering peer it
	// cannot watch (a refused descriptor above select's ceiling) sends.
	blindPeriod = 10 * time.Millisecond
)

// loop is the event loop: a waiter, the goroutine that runs it, and the
// connections it owns.
type loop struct {
	r        *run
	w        waiter
	efd      int // eventfd for wake-ups
	lfd      int // the listener while accepting; else -1
	evs      []event
	buf      []byte
	iov      []unix.Iovec
	conns    []*conn            // by descriptor
	live     int                // admitted connections not yet closed
	now      int64              // ns since r.start, read once per wake-up
	wheel    wheel.Wheel[*conn] // idle timeouts
	twheel   wheel.Wheel[*conn] // the handlers' connection timers, made on first use
	later    []*conn            // connections to settle again on the next turn (see settle)
	idle     int64              // the idle timeout in ns, 0 for none
	maxQueue int

	lingerQ  []*conn // closing connections discarding input, in deadline order
	lingerHd int
	blind    int   // lingering connections the waiter cannot watch, read every blindPeriod
	bytesOut int64 // added to stats once per wake-up
	stats    *server.Stats
	acceptAt int64 // when accepting resumes after running out of descriptors; 0 if not paused
	stopping bool
	drainEnd int64
	shutdown bool  // set by a posted command
	failed   error // a fatal accept error: Serve returns it once drained

	// cur is the connection whose callback is running, so that its own
	// writes need no wake-up. dispatching is set while the loop is between
	// waits and will look at its pending list before the next one, so that
	// writers need not wake it.
	cur         atomic.Uintptr // a conn's token
	dispatching atomic.Bool
	woken       atomic.Bool // an eventfd write is outstanding
	npending    atomic.Int32

	mu      sync.Mutex
	pending []*conn
	cmds    []func(*loop)
	exited  bool

	spareP []*conn

	why reasons.Book[*conn] // the reasons CloseWith gave, until the loop takes them
}

func newLoop(r *run, lfd int) (*loop, error) {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("%s: eventfd: %w", r.kind, err)
	}
	l := &loop{
		r:        r,
		w:        newWaiter(r.kind),
		efd:      efd,
		lfd:      lfd,
		buf:      make([]byte, readBufSize),
		iov:      make([]unix.Iovec, 0, maxIovecs),
		maxQueue: r.lim.MaxQueue,
		stats:    r.s.Stats,
	}
	if r.lim.IdleTimeout > 0 {
		l.idle = int64(r.lim.IdleTimeout)
		l.wheel = wheel.ForIdle[*conn](r.lim.IdleTimeout)
	}
	if err := l.w.watch(efd, evRead); err != nil {
		unix.Close(efd)
		return nil, fmt.Errorf("%s: the wake-up descriptor %d: %w", r.kind, efd, err)
	}
	if err := l.w.watch(lfd, evRead); err != nil {
		unix.Close(efd)
		return nil, fmt.Errorf("%s: the listener's descriptor %d: %w", r.kind, lfd, err)
	}
	return l, nil
}

func (l *loop) clock() { l.now = int64(time.Since(l.r.start)) }

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

// run is the loop. It returns once shut down and drained, with the fatal
// accept error if there was one, or at once with the waiter's error.
func (l *loop) run() error {
	defer func() {
		l.mu.Lock()
		l.exited = true
		l.mu.Unlock()
		unix.Close(l.efd)
	}()
	for {
		var err error
		timeout := l.pollTimeout()
		if timeout != 0 && l.r.spawner {
			runtime.Gosched() // as epoll does: see server.Spawner
		}
		l.evs, err = l.w.wait(timeout, l.evs[:0])
		if err != nil && err != unix.EINTR {
			err = fmt.Errorf("%s: %w", l.r.kind, err)
			l.abandon(err)
			return err
		}
		l.clock()
		l.dispatching.Store(true)
		for _, ev := range l.evs {
			fd := int(ev.fd)
			switch {
			case fd == l.efd:
				read(l.efd, l.buf[:8])
				l.woken.Store(false)
			case fd == l.lfd:
				l.accept()
			default:
				if fd < len(l.conns) {
					if c := l.conns[fd]; c != nil {
						l.handle(c, ev.ev)
					}
				}
			}
		}
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
		if l.stopping && l.live == 0 && l.lingerHd == len(l.lingerQ) && l.npending.Load() == 0 {
			return l.failed
		}
	}
}

// abandon gives up a loop whose waiter has failed, which only a bug can
// cause: it closes every connection with err.
func (l *loop) abandon(err error) {
	l.r.s.Logger.Error("event loop failed", "service", l.r.s.Name, "engine", l.r.kind.String(), "err", err)
	l.stopAccepting()
	for _, c := range l.conns {
		if c != nil {
			l.finish(c, err, false)
			l.closeFD(c)
		}
	}
}

func (l *loop) flushStats() {
	if l.bytesOut != 0 {
		l.stats.BytesOut.Add(l.bytesOut)
		l.bytesOut = 0
	}
}

// pollTimeout is how long the wait may sleep, in ms: until the next timer.
func (l *loop) pollTimeout() int {
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
	if l.blind > 0 {
		min(l.now + int64(blindPeriod))
	}
	if l.stopping {
		min(l.drainEnd)
	}
	min(l.acceptAt)
	if next < 0 {
		return -1
	}
	d := next - l.now
	if d <= 0 {
		return 0
	}
	return int((d + int64(time.Millisecond) - 1) / int64(time.Millisecond))
}

func (l *loop) runPending() {
	l.mu.Lock()
	pend, cmds := l.pending, l.cmds
	l.pending, l.cmds = l.spareP[:0], nil
	l.npending.Store(0)
	l.mu.Unlock()
	for _, c := range pend {
		c.flags.And(^uint32(flagNotified))
		if !c.done {
			l.settle(c)
		}
	}
	for _, fn := range cmds {
		fn(l)
	}
	if l.shutdown && !l.stopping {
		l.stopAccepting()
		l.beginShutdown()
	}
	clear(pend)
	l.spareP = pend
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
	if l.blind > 0 {
		for _, c := range l.lingerQ[l.lingerHd:] {
			if c.lingering && c.blind && l.discard(c) {
				l.closeFD(c)
			}
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
		if l.lfd >= 0 {
			l.w.watch(l.lfd, evRead)
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

func (l *loop) accept() {
	for range acceptBatch {
		fd, sa, err := unix.Accept4(l.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			switch err {
			case unix.EAGAIN:
				return
			case unix.EINTR, unix.ECONNABORTED, unix.EPROTO, unix.EPERM:
				continue
			case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
				l.r.s.Logger.Warn("accept paused", "service", l.r.s.Name, "err", err)
				l.w.watch(l.lfd, 0)
				l.acceptAt = l.now + int64(acceptBackoff)
				return
			default:
				l.r.s.Logger.Error("accept", "service", l.r.s.Name, "err", err)
				l.failed = fmt.Errorf("%s: accept: %w", l.r.kind, err)
				l.stopAccepting()
				l.beginShutdown()
				return
			}
		}
		l.admit(fd, sa)
	}
}

func (l *loop) admit(fd int, sa unix.Sockaddr) {
	remote := sock.TCPAddr(sa)
	// Like the Go runtime, disable Nagle: handlers write whole replies.
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	r := l.r
	if !l.w.fits(fd) {
		// select(2) cannot watch it: the peer hears why, politely, and
		// the loop reads what it sends until it goes, without watching.
		l.refuse(fd, r.s.TurnAway(ErrDescriptorLimit, remote))
		return
	}
	if err := r.s.Admit(remote); err != nil {
		l.refuse(fd, r.s.Refusal(err))
		return
	}
	c := newConn(l, fd)
	var local net.Addr
	if r.local != nil {
		local = r.local
	} else if lsa, err := unix.Getsockname(fd); err == nil {
		// A wildcard listener: each connection has its own address.
		local = sock.TCPAddr(lsa)
	}
	c.InitBase(local, remote)
	l.open(c)
}

// refuse writes msg to a connection turned away and lingers on it.
func (l *loop) refuse(fd int, msg []byte) {
	if len(msg) > 0 {
		unix.Write(fd, msg)
	}
	c := newConn(l, fd)
	c.refused, c.done = true, true
	l.setConn(c)
	l.linger(c)
}

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
		l.w.watch(l.lfd, 0)
		unix.Close(l.lfd)
		l.lfd = -1
	}
}

// open watches an admitted connection and calls the handler's Open.
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

// handle reacts to the waiter's report on c.
func (l *loop) handle(c *conn, ev uint8) {
	if c.lingering {
		if l.discard(c) {
			l.closeFD(c)
		}
		return
	}
	if c.done {
		return
	}
	if ev&evWrite != 0 || (c.wantOut && ev&evHup != 0) {
		l.settle(c)
		if c.done {
			return
		}
	}
	if ev&(evRead|evHup) == 0 {
		return
	}
	if c.flags.Load()&flagControl != 0 {
		// A pause asked from another goroutine is honoured before
		// this read, not after it.
		l.settle(c)
		if c.done {
			return
		}
	}
	if c.reading() {
		l.read(c)
		return
	}
	if ev&evHup != 0 {
		// Neither reading nor waiting to write, yet the socket reports
		// an error or hang-up: it is broken, and poll would report it
		// on every wake-up.
		err := sockError(int(c.fd))
		if err == nil && !c.eof && !c.closing {
			err = io.ErrUnexpectedEOF
		}
		l.finish(c, err, false)
	}
}

func sockError(fd int) error {
	n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return fmt.Errorf("readiness: %w", err)
	}
	if n != 0 {
		return fmt.Errorf("readiness: %w", unix.Errno(n))
	}
	return nil
}

func (c *conn) reading() bool {
	return !c.eof && !c.closing && !c.paused && !c.upaused && !c.done
}

// read reads once into the loop's buffer and hands the input to the
// handler; the waiter reports the rest next time.
func (l *loop) read(c *conn) {
	for {
		n, err := read(int(c.fd), l.buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return
		case err != nil:
			l.finish(c, fmt.Errorf("%s: read: %w", l.r.kind, err), false)
			return
		case n == 0:
			l.readEOF(c)
			return
		}
		// Counted before the handler sees the bytes, so that a
		// handler reporting the counters includes them, as under
		// every engine. Output is counted once per wake-up.
		l.stats.BytesIn.Add(int64(n))
		c.active = l.now
		l.data(c, l.buf[:n])
		return
	}
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
		err = fmt.Errorf("%s: Data consumed %d of %d bytes", l.r.kind, k, len(in))
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

// settle brings c up to date after a callback or a wake-up: it applies
// what the handler asked (timer, pause, Drained), acts on a close asked
// for, flushes, calls Drained if it is due, and sets the waiter's interest
// to match.
func (l *loop) settle(c *conn) {
	if c.done {
		return
	}
	if c.flags.Load()&flagControl != 0 && l.applyControl(c) {
		l.data(c, nil) // reading resumed: the kept input again
		return
	}
	empty, mem, queued, closeReq, abort, err := l.flush(c)
	if abort != nil {
		l.finish(c, abort, false)
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
	}
	if c.drainWait && !c.closing && c.drainDue(queued) {
		c.drainWait = false
		if l.call(c, l.r.dh.Drained) {
			// Settled again after this turn's events, so that a
			// handler asking for Drained from Drained cannot hold
			// the loop.
			l.later = append(l.later, c)
		}
		return
	}
	l.interest(c)
}

// interest tells the waiter what c waits for: input while it reads (and
// while it lingers), room to write while output is pending.
func (l *loop) interest(c *conn) {
	var want uint8
	switch {
	case c.lingering:
		want = evRead
	default:
		if c.reading() {
			want = evRead
		}
		if c.wantOut {
			want |= evWrite
		}
	}
	if want == c.events {
		return
	}
	if err := l.w.watch(int(c.fd), want); err != nil {
		l.finish(c, fmt.Errorf("%s: watch: %w", l.r.kind, err), false)
		return
	}
	c.events = want
}

// flush sends as much queued output as the socket takes, without blocking.
// It reports whether the queue is now empty, the bytes still held in
// memory, and the close state writers have set.
func (l *loop) flush(c *conn) (empty bool, mem int, queued int64, closeReq bool, abort, err error) {
	c.mu.Lock()
	closeReq = c.closeReq
	if c.slow {
		abort = server.ErrSlowConsumer
		c.mu.Unlock()
		return
	}
	for !c.out.Empty() {
		if c.out.Head().F != nil {
			var again bool
			again, err = l.sendFile(c)
			if err != nil || again {
				break
			}
			continue
		}
		iov, total := c.out.Iovecs(l.iov[:0])
		n, werr := writev(int(c.fd), iov)
		clear(iov) // hold no chunk beyond its use
		if werr == unix.EINTR {
			continue
		}
		if werr == unix.EAGAIN {
			c.wantOut = true
			break
		}
		if werr != nil {
			err = fmt.Errorf("%s: write: %w", l.r.kind, werr)
			break
		}
		l.sent(c, n)
		if n < total {
			// A short write: the socket buffer is full.
			c.wantOut = true
			break
		}
	}
	empty, mem, queued = c.out.Empty(), c.out.Mem(), c.out.Queued()
	c.mu.Unlock()
	if empty {
		c.wantOut = false
	}
	return empty, mem, queued, closeReq, nil, err
}

func (l *loop) sent(c *conn, n int) {
	if n <= 0 {
		return
	}
	c.out.Sent(n)
	l.bytesOut += int64(n)
	c.active = l.now
}

func writev(fd int, iov []unix.Iovec) (int, error) {
	if len(iov) == 1 {
		return write(fd, unsafe.Slice(iov[0].Base, iov[0].Len))
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	if e != 0 {
		return 0, errnoErr(e)
	}
	return int(n), nil
}

// read and write are read(2) and write(2) on non-blocking sockets, which
// return at once, so they skip the scheduler's bookkeeping for system calls
// that may block. The waits do not: select(2) and poll(2) block.
func read(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, errnoErr(e)
	}
	return int(n), nil
}

func write(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, errnoErr(e)
	}
	return int(n), nil
}

var (
	errEAGAIN error = unix.EAGAIN
	errEINTR  error = unix.EINTR
)

// errnoErr boxes the common errors without allocating.
func errnoErr(e unix.Errno) error {
	switch e {
	case unix.EAGAIN:
		return errEAGAIN
	case unix.EINTR:
		return errEINTR
	}
	return e
}

var errShortFile = errors.New("readiness: file shorter than the range queued")

// sendFile sends the file segment at the head of c's queue; mu is held.
func (l *loop) sendFile(c *conn) (again bool, err error) {
	s := c.out.Head()
	for s.N > 0 { // once all is sent, FileSent has closed the file and zeroed *s
		w, serr := unix.Sendfile(int(c.fd), int(s.F.Fd()), &s.Off, int(min(s.N, 1<<30)))
		if serr == unix.EINVAL || serr == unix.ENOSYS {
			return l.copyFile(c)
		}
		if w > 0 {
			l.sentFile(c, w)
		}
		switch {
		case serr == unix.EINTR:
			continue
		case serr == unix.EAGAIN:
			c.wantOut = true
			return true, nil
		case serr != nil:
			return false, fmt.Errorf("%s: sendfile: %w", l.r.kind, serr)
		case w == 0:
			return false, errShortFile
		}
	}
	return false, nil
}

func (l *loop) sentFile(c *conn, n int) {
	c.out.FileSent(int64(n))
	l.bytesOut += int64(n)
	c.active = l.now
}

// copyFile is sendFile for files sendfile(2) refuses: read into the loop's
// buffer and write what the socket takes.
func (l *loop) copyFile(c *conn) (again bool, err error) {
	s := c.out.Head()
	for s.N > 0 { // as in sendFile
		m, rerr := unix.Pread(int(s.F.Fd()), l.buf[:min(int64(len(l.buf)), s.N)], s.Off)
		if rerr == unix.EINTR {
			continue
		}
		if rerr != nil {
			return false, fmt.Errorf("%s: read file: %w", l.r.kind, rerr)
		}
		if m == 0 {
			return false, errShortFile
		}
		w, werr := unix.Write(int(c.fd), l.buf[:m])
		if werr == unix.EINTR {
			continue
		}
		if werr == unix.EAGAIN {
			c.wantOut = true
			return true, nil
		}
		if werr != nil {
			return false, fmt.Errorf("%s: write: %w", l.r.kind, werr)
		}
		s.Off += int64(w)
		l.sentFile(c, w)
		if w < m {
			c.wantOut = true
			return true, nil
		}
	}
	return false, nil
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
	unix.Shutdown(int(c.fd), unix.SHUT_WR)
	if l.discard(c) || l.stopping {
		l.closeFD(c)
		return
	}
	c.lingering = true
	c.lingerEnd = l.now + int64(lingerTimeout)
	l.lingerQ = append(l.lingerQ, c)
	if !l.w.fits(int(c.fd)) {
		c.blind = true
		l.blind++
		return
	}
	l.interest(c)
}

// discard reads and drops c's input; it reports whether the peer is done
// (EOF or an error).
func (l *loop) discard(c *conn) bool {
	for range 16 {
		n, err := read(int(c.fd), l.buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case err != nil || n == 0:
			return true
		}
	}
	return false
}

// closeFD stops watching c and closes its descriptor. The waiter must
// forget a descriptor before it is closed: select(2) fails with EBADF on a
// closed one, and its number is soon another connection's.
func (l *loop) closeFD(c *conn) {
	if c.fd < 0 {
		return
	}
	if c.events != 0 {
		l.w.watch(int(c.fd), 0)
		c.events = 0
	}
	if c.blind {
		c.blind = false
		l.blind--
	}
	c.lingering = false
	l.conns[int(c.fd)] = nil
	unix.Close(int(c.fd))
	c.fd = -1
}
