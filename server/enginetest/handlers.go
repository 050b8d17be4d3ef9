package enginetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portside/portside/server"
)

// recorder watches a handler from the test's side: every Close with its
// reason, and a signal per Data call. It only sees handlers that run in the
// test's own process.
type recorder struct {
	mu     sync.Mutex
	closes map[uint64][]error
	conns  map[uint64]server.Conn
	closed chan closeEvent
	data   chan int
	opened chan server.Conn
	// drained receives Queued() at each Drained call.
	drained chan int
	// maxQueued is the most output ever queued on return from Data.
	maxQueued int
	// files handed to WriteFile, to check the engine closed them.
	files []*os.File
	// writeAfterClose is what Write returned after Close.
	writeAfterClose error
	// lateTimers counts Timer calls after Close.
	lateTimers int
	// log receives the service's log, for the tests that read it.
	log logBuffer
}

// local reports whether the handler runs in the test's process: whether
// the recorder has seen a connection open.
func (r *recorder) local() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns) > 0
}

// logBuffer collects log output from any goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type closeEvent struct {
	id  uint64
	err error
}

func newRecorder() *recorder {
	return &recorder{
		closes:  make(map[uint64][]error),
		conns:   make(map[uint64]server.Conn),
		closed:  make(chan closeEvent, 4096),
		data:    make(chan int, 4096),
		opened:  make(chan server.Conn, 4096),
		drained: make(chan int, 64),
	}
}

func (r *recorder) open(c server.Conn) {
	r.mu.Lock()
	r.conns[c.ID()] = c
	r.mu.Unlock()
	select {
	case r.opened <- c:
	default:
	}
}

func (r *recorder) dataCall(c server.Conn, n int) {
	q := c.Queued()
	r.mu.Lock()
	r.maxQueued = max(r.maxQueued, q)
	r.mu.Unlock()
	select {
	case r.data <- n:
	default:
	}
}

func (r *recorder) drainedCall(queued int) {
	select {
	case r.drained <- queued:
	default:
	}
}

func (r *recorder) close(c server.Conn, err error) {
	r.mu.Lock()
	r.closes[c.ID()] = append(r.closes[c.ID()], err)
	r.mu.Unlock()
	select {
	case r.closed <- closeEvent{c.ID(), err}:
	default:
	}
}

// base gives every test handler its recorder hooks.
type base struct{ rec *recorder }

func (b *base) Open(c server.Conn)             { b.rec.open(c) }
func (b *base) Close(c server.Conn, err error) { b.rec.close(c, err) }
func (b *base) recorder() *recorder            { return b.rec }

// echo writes back every byte as it arrives (RFC 862).
type echo struct{ base }

func (h *echo) Data(c server.Conn, in []byte) (int, error) {
	c.Write(in)
	h.rec.dataCall(c, len(in))
	return len(in), nil
}

// lines consumes complete lines only, leaving a partial line for later, and
// understands a few commands that exercise the engine.
type lines struct {
	base
	file string // served by the "file" command
}

var errFail = errors.New("enginetest: handler failure")

func (h *lines) Data(c server.Conn, in []byte) (int, error) {
	h.rec.dataCall(c, len(in))
	used := 0
	for {
		i := bytes.IndexByte(in[used:], '\n')
		if i < 0 {
			return used, nil
		}
		line := in[used : used+i+1]
		used += i + 1
		if err := h.line(c, line); err != nil {
			return used, err
		}
	}
}

func (h *lines) line(c server.Conn, line []byte) error {
	cmd, arg, _ := bytes.Cut(bytes.TrimSuffix(line, []byte("\n")), []byte(" "))
	n, _ := strconv.Atoi(string(arg))
	switch string(cmd) {
	case "quit":
		c.Write([]byte("bye\n"))
		c.Close()
		h.rec.mu.Lock()
		h.rec.writeAfterClose = c.Write([]byte("late\n"))
		h.rec.mu.Unlock()
	case "fail":
		c.Write([]byte("error\n"))
		return errFail
	case "bytes": // n one-byte writes
		for i := range n {
			c.Write([]byte{pattern(i)})
		}
	case "big": // one write of n bytes
		c.Write(patternBytes(n))
	case "file":
		f, err := os.Open(h.file)
		if err != nil {
			return err
		}
		h.rec.mu.Lock()
		h.rec.files = append(h.rec.files, f)
		h.rec.mu.Unlock()
		c.Write([]byte("head\n"))
		c.WriteFile(f, fileOff, fileLen)
		c.Write([]byte("tail\n"))
	default:
		c.Write(line)
	}
	return nil
}

const (
	fileOff = 10
	fileLen = 1 << 20
)

func pattern(i int) byte { return 'a' + byte(i%26) }

func patternBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = pattern(i)
	}
	return b
}

// drainer answers shutdown with a goodbye, or never closes if stuck. With
// finish, it first reads on (ResumeRead) until the line under way is
// complete: it says "draining", answers that line, then says goodbye.
type drainer struct {
	lines
	stuck  bool
	finish bool

	mu       sync.Mutex
	draining map[uint64]bool
}

func (h *drainer) Drain(c server.Conn) {
	if h.stuck {
		return
	}
	if h.finish {
		h.mu.Lock()
		if h.draining == nil {
			h.draining = map[uint64]bool{}
		}
		h.draining[c.ID()] = true
		h.mu.Unlock()
		c.Write([]byte("draining\n"))
		c.ResumeRead()
		return
	}
	c.Write([]byte("bye\n"))
	c.Close()
}

func (h *drainer) Data(c server.Conn, in []byte) (int, error) {
	n, err := h.lines.Data(c, in)
	if !h.finish || err != nil || n == 0 {
		return n, err
	}
	h.mu.Lock()
	done := h.draining[c.ID()]
	h.mu.Unlock()
	if done {
		c.Write([]byte("bye\n"))
		c.Close()
	}
	return n, err
}

// counter answers a half-close with the number of bytes it saw, written
// later from another goroutine.
type counter struct {
	base
	mu sync.Mutex
	n  map[uint64]int
}

func (h *counter) Data(c server.Conn, in []byte) (int, error) {
	h.mu.Lock()
	h.n[c.ID()] += len(in)
	h.mu.Unlock()
	return len(in), nil
}

func (h *counter) ReadEOF(c server.Conn, rest []byte) {
	h.mu.Lock()
	n := h.n[c.ID()] + len(rest)
	h.mu.Unlock()
	go func() {
		c.Write([]byte("total " + strconv.Itoa(n) + "\n"))
		c.Close()
	}()
}

// pusher writes from its own goroutine as soon as a connection opens: count
// lines then Close, or, with flood, 16 KiB chunks until Write fails.
type pusher struct {
	base
	count int
	flood bool
}

func (h *pusher) Open(c server.Conn) {
	h.base.Open(c)
	go func() {
		if h.flood {
			chunk := patternBytes(16 << 10)
			for range 100000 {
				if c.Write(chunk) != nil {
					return
				}
			}
			return
		}
		for i := range h.count {
			c.Write([]byte(strconv.Itoa(i) + "\n"))
		}
		c.Close()
	}()
}

func (h *pusher) Data(c server.Conn, in []byte) (int, error) { return len(in), nil }

// banner greets and refuses politely.
type banner struct{ echo }

func (h *banner) Open(c server.Conn) {
	h.echo.Open(c)
	c.Write([]byte("hello\n"))
}

func (h *banner) Refuse(reason error) []byte {
	return []byte("busy: " + reason.Error() + "\n")
}

var (
	_ server.Drainer    = (*drainer)(nil)
	_ server.EOFHandler = (*counter)(nil)
	_ server.Refuser    = (*banner)(nil)
)

// asyncEcho echoes from a goroutine of its own per connection, as a
// handler that hands work off the engine does: the engine's reader is never
// blocked by the writes, so only its high-water pause stops the queue from
// growing.
type asyncEcho struct {
	base
	mu sync.Mutex
	ch map[uint64]chan []byte
}

func (h *asyncEcho) Open(c server.Conn) {
	h.base.Open(c)
	// Unbuffered: at most one chunk is between Data and Write, so the
	// queue, not this channel, is where output waits.
	ch := make(chan []byte)
	h.mu.Lock()
	h.ch[c.ID()] = ch
	h.mu.Unlock()
	go func() {
		for b := range ch {
			c.Write(b)
		}
	}()
}

func (h *asyncEcho) Data(c server.Conn, in []byte) (int, error) {
	h.mu.Lock()
	ch := h.ch[c.ID()]
	h.mu.Unlock()
	ch <- bytes.Clone(in)
	h.rec.dataCall(c, len(in))
	return len(in), nil
}

func (h *asyncEcho) Close(c server.Conn, err error) {
	h.mu.Lock()
	close(h.ch[c.ID()])
	delete(h.ch, c.ID())
	h.mu.Unlock()
	h.base.Close(c, err)
}

// contract exercises what a handler may ask of its connection besides
// writing: a timer, a pause in reading, word of drained output, WriteString,
// and surviving its own panics. Every callback checks that none of the
// connection's other callbacks is running, and what it finds reaches the
// peer, so that the tests see it under engines that run handlers in another
// process.
type contract struct {
	base
	openPanic bool // every Open panics
	low       int  // the service's low-water mark
}

// spawning is contract as a server.Spawner: it writes from goroutines of
// its own, and an engine may take its writes on those goroutines.
type spawning struct{ contract }

func (*spawning) SpawnsGoroutines() bool { return true }

// InitService learns the low-water mark, the mark contract asks Drained for
// unless told another.
func (h *contract) InitService(s *server.Service) { h.low = s.Limits.LowWater() }

// cstate is one connection's state; callbacks alone touch its plain fields.
type cstate struct {
	busy     atomic.Int32
	overlaps atomic.Int64
	closed   atomic.Bool
	timers   int64 // Timer calls
	label    string
	armedAt  time.Time
	armedFor time.Duration
	spin     bool // re-arm the timer at once each time it fires
	paused   bool // the handler paused reading and has not resumed
	raw      bool // echo bytes as they come, after a pause
	// panicIn names the callback that is to panic next: "timer",
	// "drained", "close".
	panicIn string
	// goPaused is set while the handler's own goroutine holds reading
	// paused.
	goPaused atomic.Bool
}

const panicValue = "enginetest: asked to panic"

// enter begins a callback: it notes whether another is under way, and gives
// one that would overlap a chance to run now.
func (h *contract) enter(c server.Conn) *cstate {
	st := c.Value().(*cstate)
	if st.busy.Add(1) != 1 {
		st.overlaps.Add(1)
	}
	runtime.Gosched()
	return st
}

func (st *cstate) exit() { st.busy.Add(-1) }

func (h *contract) Open(c server.Conn) {
	c.SetValue(new(cstate))
	st := h.enter(c)
	defer st.exit()
	h.base.Open(c)
	// As a handler that logs its peers does: the addresses are never nil.
	_ = c.LocalAddr().String() + c.RemoteAddr().String()
	if h.openPanic {
		panic(panicValue)
	}
}

func (h *contract) Data(c server.Conn, in []byte) (int, error) {
	st := h.enter(c)
	defer st.exit()
	h.rec.dataCall(c, len(in))
	if st.paused || st.goPaused.Load() {
		c.WriteString("data while paused\n")
	}
	if st.raw {
		c.Write(in)
		return len(in), nil
	}
	used := 0
	for !st.raw {
		i := bytes.IndexByte(in[used:], '\n')
		if i < 0 {
			break
		}
		line := string(in[used : used+i])
		used += i + 1
		h.command(c, st, line)
	}
	// After "pause" the rest is kept, unconsumed, until reading resumes.
	return used, nil
}

func (h *contract) command(c server.Conn, st *cstate, line string) {
	cmd, arg, _ := strings.Cut(line, " ")
	switch cmd {
	case "timer": // timer LABEL MS
		label, ms, _ := strings.Cut(arg, " ")
		n, _ := strconv.Atoi(ms)
		st.label, st.armedAt, st.armedFor = label, time.Now(), time.Duration(n)*time.Millisecond
		c.SetTimer(st.armedFor)
		c.WriteString("armed " + label + "\n")
	case "cancel":
		c.SetTimer(0)
		c.WriteString("cancelled\n")
	case "spin":
		st.spin = true
		c.SetTimer(time.Millisecond)
		c.WriteString("spinning\n")
	case "count":
		c.WriteString(fmt.Sprintf("count %d %d\n", st.timers, st.overlaps.Load()))
	case "pause": // pause MS: pause reading, resume from a timer MS later
		n, _ := strconv.Atoi(arg)
		st.paused, st.raw = true, true
		st.label, st.armedAt, st.armedFor = "resume", time.Now(), time.Duration(n)*time.Millisecond
		c.PauseRead()
		c.SetTimer(st.armedFor)
		c.WriteString("paused\n")
	case "flood": // flood N [MARK]: N bytes, and word once they are down to MARK (low water)
		size, mark, ok := strings.Cut(arg, " ")
		n, _ := strconv.Atoi(size)
		m := h.low
		if ok {
			m, _ = strconv.Atoi(mark)
		}
		c.Write(patternBytes(n))
		c.NotifyDrained(m)
	case "notify":
		c.NotifyDrained(h.low)
	case "ws":
		c.WriteString(arg + "\n")
	// The same requests from a goroutine of the handler's own.
	case "go-timer": // go-timer LABEL MS
		label, ms, _ := strings.Cut(arg, " ")
		n, _ := strconv.Atoi(ms)
		st.label, st.armedAt, st.armedFor = label, time.Now(), time.Duration(n)*time.Millisecond
		c.WriteString("armed " + label + "\n")
		go c.SetTimer(st.armedFor)
	case "go-notify":
		go c.NotifyDrained(h.low)
	case "go-pause": // go-pause MS: pause, and resume MS later
		n, _ := strconv.Atoi(arg)
		st.raw = true
		go func() {
			c.PauseRead()
			st.goPaused.Store(true)
			c.WriteString("paused\n")
			time.Sleep(time.Duration(n) * time.Millisecond)
			st.goPaused.Store(false)
			c.WriteString("resumed\n") // before the echo that may follow at once
			c.ResumeRead()
		}()
	case "panic":
		panic(panicValue)
	case "timer-panic":
		st.panicIn = "timer"
		c.SetTimer(time.Millisecond)
	case "drained-panic":
		st.panicIn = "drained"
		c.NotifyDrained(h.low)
	case "close-panic":
		st.panicIn = "close"
		c.WriteString("bye\n")
		c.Close()
	case "quit":
		c.WriteString("bye\n")
		c.Close()
	case "go-tick": // go-tick N MS: from a goroutine, N ticks MS apart, then silence
		n, ms, _ := strings.Cut(arg, " ")
		count, _ := strconv.Atoi(n)
		every, _ := strconv.Atoi(ms)
		go func() {
			for i := range count {
				time.Sleep(time.Duration(every) * time.Millisecond)
				if c.WriteString("tick "+strconv.Itoa(i)+"\n") != nil {
					return
				}
			}
		}()
	case "go-fail": // from a goroutine: a goodbye, then a close for an input overflow
		go func() {
			c.WriteString("bye\n")
			c.CloseWith(server.ErrInputTooLarge)
		}()
	case "quit-fail": // Close, then a CloseWith that comes too late to count
		c.WriteString("bye\n")
		c.Close()
		c.CloseWith(server.ErrInputTooLarge)
	default:
		c.WriteString(cmd + "?\n")
	}
}

func (h *contract) Timer(c server.Conn) {
	st := h.enter(c)
	defer st.exit()
	if st.closed.Load() {
		h.rec.mu.Lock()
		h.rec.lateTimers++
		h.rec.mu.Unlock()
	}
	st.timers++
	switch {
	case st.panicIn == "timer":
		panic(panicValue)
	case st.spin:
		c.SetTimer(time.Millisecond)
	case st.label == "resume":
		st.paused = false
		c.ResumeRead()
		c.WriteString(st.early() + "resumed\n")
	default:
		c.WriteString(st.early() + "fired " + st.label + "\n")
	}
}

// early is what the peer is told if a timer fired before its time.
func (st *cstate) early() string {
	if d := time.Since(st.armedAt); d < st.armedFor {
		return fmt.Sprintf("early by %v: ", st.armedFor-d)
	}
	return ""
}

func (h *contract) Drained(c server.Conn) {
	st := h.enter(c)
	defer st.exit()
	if st.panicIn == "drained" {
		panic(panicValue)
	}
	q := c.Queued()
	h.rec.drainedCall(q)
	c.WriteString("drained " + strconv.Itoa(q) + "\n")
}

func (h *contract) Close(c server.Conn, err error) {
	st := h.enter(c)
	defer st.exit()
	st.closed.Store(true)
	_ = c.LocalAddr().String() + c.RemoteAddr().String()
	h.base.Close(c, err)
	if st.panicIn == "close" {
		panic(panicValue)
	}
}

// Refuse panics: a peer turned away gets no words, and the service goes on.
func (h *contract) Refuse(error) []byte { panic(panicValue) }

var (
	_ server.TimerHandler   = (*contract)(nil)
	_ server.DrainedHandler = (*contract)(nil)
	_ server.Refuser        = (*contract)(nil)
)
