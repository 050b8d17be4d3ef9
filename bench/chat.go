package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Chat is the chat mode: many members in one room, a few of them talking.
const Chat Mode = "chat"

// ChatSchema names the JSON format of a chat report.
const ChatSchema = "portside-bench-chat/v1"

// ChatConfig describes a chat run against a portside chat server (or any
// server speaking its line protocol or IRC).
//
// Members connect and join Room; the first Senders of them say messages at
// Rate per second in total, for Warmup then Duration. Every message's text
// carries the run's tag, its sender, the sender's counter and the time it
// was meant to be sent, so every other member checks that it gets each
// message once and in its sender's order, and measures its latency from
// the intended send time (a stalled generator shows as latency, not as a
// lower rate).
//
// The server must not throttle the senders: run it with flood control off
// (portside chat --flood-rate 0).
type ChatConfig struct {
	Addr string
	// Also are more nodes serving the same rooms (a cluster): members
	// are dealt round-robin over Addr and these, and every delivery is
	// still checked in this one process.
	Also []string
	// PIDs are server processes whose CPU time is measured, and whose
	// resident memory is reported in idle mode.
	PIDs    []int
	Members int
	Senders int
	// Rate is messages per second over all senders; each is delivered to
	// Members-1 members.
	Rate     float64
	Duration time.Duration
	Warmup   time.Duration
	// Timeout bounds each member's login and join, and how long
	// deliveries may still arrive after the last message is sent.
	Timeout time.Duration
	Room    string // default "bench"
	IRC     bool   // IRC instead of the line protocol
	// Size pads each message's text to at least this many bytes.
	Size int
	// Idle only connects, registers and joins the members, spread over
	// Rooms rooms, holds them for Duration and reports the server's
	// resident memory before and after: no messages are sent.
	Idle  bool
	Rooms int
	// Dialers is how many members log in at once. Default 64.
	Dialers  int
	Progress io.Writer
	Logger   *slog.Logger
}

// Validate checks c and fills in defaults.
func (c *ChatConfig) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	for _, a := range append([]string{c.Addr}, c.Also...) {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return bad("address %q: %v", a, err)
		}
	}
	for _, p := range c.PIDs {
		if p <= 0 {
			return bad("pid %d", p)
		}
	}
	if c.Room == "" {
		c.Room = "bench"
	}
	if strings.ContainsAny(c.Room, " ,#\r\n\x00") {
		return bad("room %q: want a plain name", c.Room)
	}
	if c.Rooms == 0 {
		c.Rooms = 1
	}
	if c.Dialers == 0 {
		c.Dialers = 64
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	switch {
	case c.Members < 1:
		return bad("members must be at least 1, not %d", c.Members)
	case c.Duration <= 0 || c.Warmup < 0 || c.Timeout < 0:
		return bad("a run needs a positive duration")
	case c.Rooms < 1 || c.Rooms > c.Members:
		return bad("rooms must be 1 to the number of members, not %d", c.Rooms)
	case c.Rooms > 1 && !c.Idle:
		return bad("several rooms only in idle mode")
	case c.Dialers < 1:
		return bad("dialers must be at least 1, not %d", c.Dialers)
	case c.Size < 0 || c.Size > 4000:
		return bad("message size must be 0 to 4000 bytes, not %d", c.Size)
	}
	if !c.Idle {
		switch {
		case c.Members < 2:
			return bad("a room needs at least 2 members to deliver anything, not %d", c.Members)
		case c.Senders < 1 || c.Senders > c.Members:
			return bad("senders must be 1 to the number of members, not %d", c.Senders)
		case c.Rate <= 0 || math.IsInf(c.Rate, 0) || math.IsNaN(c.Rate):
			return bad("rate must be positive, not %g", c.Rate)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// ChatReport is the outcome of a chat run. Latencies are in microseconds.
type ChatReport struct {
	Schema      string    `json:"schema"`
	Started     time.Time `json:"started"`
	Addr        string    `json:"addr"`
	Door        string    `json:"door"` // "line" or "irc"
	Room        string    `json:"room"`
	Idle        bool      `json:"idle"`
	Rooms       int       `json:"rooms"`
	Members     int       `json:"members"`
	Senders     int       `json:"senders,omitempty"`
	Rate        float64   `json:"rate,omitempty"`
	Duration    float64   `json:"duration_s"`
	Warmup      float64   `json:"warmup_s"`
	Interrupted bool      `json:"interrupted"`

	Joined   int     `json:"joined"` // members logged in and in the room
	JoinTime float64 `json:"join_s"`
	// Sent counts messages, Owed the deliveries they call for: each
	// message to every member in the room but its sender.
	Sent      int64 `json:"sent"`
	Owed      int64 `json:"owed"`
	Delivered int64 `json:"delivered"` // first arrivals, including those out of order
	Lost      int64 `json:"lost"`      // owed and never arrived
	// Unanswered is the part of Lost still owed when the run ended, to
	// members whose connection was up: every message of a sender after
	// the last of its messages that arrived (the rest of Lost are gaps,
	// and what members whose connection broke missed).
	Unanswered int64 `json:"unanswered"`
	Duplicates int64 `json:"duplicates"`   // arrived again, or after a later one of the same sender
	OutOfOrder int64 `json:"out_of_order"` // arrived before an earlier one of the same sender
	Malformed  int64 `json:"malformed"`    // carried the run's tag but did not parse
	// Errors counts members by what broke their connection: connect,
	// timeout, closed, io, protocol.
	Errors map[string]int64 `json:"errors"`
	// PerMember is how the deliveries spread over the members that do
	// not send (over all members when all send), those that never joined
	// included: a starved member got under a tenth of the median.
	PerMember Spread `json:"per_member"`

	// Measured covers the messages sent after the warmup.
	Measured    int64      `json:"measured_deliveries"`
	Seconds     float64    `json:"seconds"`
	Deliveries  float64    `json:"deliveries_per_s"`
	Messages    float64    `json:"messages_per_s"`
	Latency     Latency    `json:"latency_us"`
	Percentiles []Point    `json:"percentiles"`
	Server      *ServerCPU `json:"server_cpu,omitempty"` // per delivery
	Memory      *MemoryUse `json:"server_memory,omitempty"`
	// ServerWait is the share of the measured window the server's
	// threads spent runnable but waiting for a CPU (/proc schedstat):
	// other processes on its core, not the server, set the pace then.
	ServerWait *float64 `json:"server_runqueue_wait_pct,omitempty"`
	// GenWait is the same for the generator.
	GenWait   float64  `json:"generator_runqueue_wait_pct"`
	Generator CPUUse   `json:"generator_cpu"`
	GenCPUs   string   `json:"generator_cpus"`
	Warnings  []string `json:"warnings"`
}

// MemoryUse is the servers' resident memory (VmRSS) before the members
// connected and once they had all joined.
type MemoryUse struct {
	Before    int64   `json:"before_bytes"`
	After     int64   `json:"after_bytes"`
	PerMember float64 `json:"bytes_per_member"`
}

// OK reports whether every member got every message exactly once, in
// order, with no connection broken.
func (r *ChatReport) OK() bool {
	var errs int64
	for _, n := range r.Errors {
		errs += n
	}
	return r.Lost+r.Duplicates+r.OutOfOrder+r.Malformed+errs == 0 && r.Joined == r.Members
}

// chatMember is one connection. Its reader goroutine owns every field but
// got, which the run polls to know when all is delivered.
type chatMember struct {
	id    int
	nick  string
	c     net.Conn
	buf   []byte
	have  int
	next  []uint32 // the counter expected next from each sender
	seen  []uint64
	room  string
	got   atomic.Int64
	fault atomic.Int32 // the kind that broke the connection, 0 for none

	dup, ooo, bad, measured int64
	lat                     [256]int64
	nlat                    int
	sh                      *chatShard
}

type chatShard struct {
	mu  sync.Mutex
	lat *hdrhistogram.Histogram
}

type chatRun struct {
	cfg      *ChatConfig
	tag      []byte // "~" and the run's random tag, then a space
	base     time.Time
	warmNs   int64 // messages meant for before this are warmup
	endNs    int64 // and none are sent from this on
	members  []*chatMember
	shards   []*chatShard
	sent     []atomic.Int64 // per sender
	stopping atomic.Bool
	wg       sync.WaitGroup
	pong     []byte
}

func (r *chatRun) now() int64 { return int64(time.Since(r.base)) }

// RunChat runs a chat benchmark. An address that refuses the first
// connection is an error; everything that fails later is counted in the
// report. When ctx is cancelled the run stops and reports what it saw.
func RunChat(ctx context.Context, cfg ChatConfig) (*ChatReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	for _, a := range append([]string{cfg.Addr}, cfg.Also...) {
		c, err := d.DialContext(ctx, "tcp", a)
		if err != nil {
			return nil, err
		}
		c.Close()
	}

	var t [3]byte
	rand.Read(t[:])
	tag := hex.EncodeToString(t[:])
	r := &chatRun{cfg: &cfg, tag: []byte("~" + tag + " "), pong: []byte("PONG :x\r\n")}
	rep := &ChatReport{
		Schema: ChatSchema, Started: time.Now().UTC().Truncate(time.Second), Addr: cfg.Addr,
		Door: "line", Room: cfg.Room, Rooms: cfg.Rooms, Idle: cfg.Idle, Members: cfg.Members, Duration: cfg.Duration.Seconds(),
		Warmup: cfg.Warmup.Seconds(), Errors: map[string]int64{}, Warnings: []string{},
		GenCPUs: FormatCPUs(selfCPUs()),
	}
	if cfg.IRC {
		rep.Door = "irc"
	}
	if !cfg.Idle {
		rep.Senders, rep.Rate = cfg.Senders, cfg.Rate
	}
	for range 16 {
		r.shards = append(r.shards, &chatShard{lat: newHist()})
	}
	var rssBefore int64
	if cfg.Idle {
		rssBefore = rss(cfg.PIDs)
	}
	r.sent = make([]atomic.Int64, cfg.Senders)
	r.members = make([]*chatMember, cfg.Members)
	bufSize := 16 << 10
	if cfg.Idle {
		bufSize = 4 << 10
	}
	for i := range r.members {
		m := &chatMember{id: i, nick: fmt.Sprintf("b%s%d", tag, i), buf: make([]byte, bufSize),
			sh: r.shards[i%len(r.shards)], room: cfg.Room}
		if !cfg.Idle {
			m.next = make([]uint32, cfg.Senders)
			m.seen = make([]uint64, cfg.Senders)
		}
		if cfg.Rooms > 1 {
			m.room = fmt.Sprintf("%s%d", cfg.Room, i%cfg.Rooms)
		}
		r.members[i] = m
	}

	// Log everyone in, Dialers at a time.
	joinStart := time.Now()
	sem := make(chan struct{}, cfg.Dialers)
	var jwg sync.WaitGroup
	for _, m := range r.members {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		jwg.Add(1)
		go func() {
			defer jwg.Done()
			defer func() { <-sem }()
			r.login(ctx, m)
		}()
	}
	jwg.Wait()
	rep.JoinTime = round3(time.Since(joinStart).Seconds())
	for _, m := range r.members {
		if m.c != nil && m.fault.Load() == 0 {
			rep.Joined++
		}
	}
	if rep.Joined < cfg.Members {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("only %d of %d members joined", rep.Joined, cfg.Members))
	}

	// Sending starts now: everyone who will ever be in the room is in it.
	r.base = time.Now()
	r.warmNs = int64(cfg.Warmup)
	r.endNs = int64(cfg.Warmup + cfg.Duration)
	for _, m := range r.members {
		if m.c != nil && m.fault.Load() == 0 {
			r.wg.Add(1)
			go r.read(m)
		}
	}

	interrupted := false
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			interrupted = true
			return false
		case <-t.C:
			return true
		}
	}

	if cfg.Idle {
		if wait(cfg.Duration) && len(cfg.PIDs) > 0 {
			after := rss(cfg.PIDs)
			rep.Memory = &MemoryUse{Before: rssBefore, After: after}
			if rep.Joined > 0 {
				rep.Memory.PerMember = math.Round(float64(after-rssBefore) / float64(rep.Joined))
			}
		}
		r.close()
		r.collect(rep)
		rep.Interrupted = interrupted
		return rep, nil
	}

	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	var swg sync.WaitGroup
	for s := range cfg.Senders {
		if m := r.members[s]; m.c != nil && m.fault.Load() == 0 {
			swg.Add(1)
			go func() { defer swg.Done(); r.send(sctx, s, m) }()
		}
	}

	var w cpuWindow
	var wait0 time.Duration
	if wait(cfg.Warmup) {
		wait0 = runWait(cfg.PIDs)
		gwait0 := runWait([]int{os.Getpid()})
		defer func() {
			if !w.t1.IsZero() {
				rep.GenWait = round1(100 * float64(runWait([]int{os.Getpid()})-gwait0) / float64(w.t1.Sub(w.t0)) / float64(max(len(w.cpus), 1)))
			}
		}()
		w.cpus = selfCPUs()
		w.srvOK = len(cfg.PIDs) > 0
		w.srv0 = make([]procTimes, len(cfg.PIDs))
		for i, pid := range cfg.PIDs {
			t, err := procCPU(pid)
			if err != nil {
				w.srvOK, w.srvErr = false, err.Error()
			}
			w.srv0[i] = t
		}
		w.t0 = time.Now()
		w.gu0, w.gs0 = selfCPU()
		wait(cfg.Duration)
	}
	scancel()
	swg.Wait()
	sendEnd := time.Now()

	// Drain: wait until every member has what it is owed, or Timeout.
	owed := r.owed()
	deadline := time.Now().Add(cfg.Timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	for !interrupted && time.Now().Before(deadline) {
		done := true
		for i, m := range r.members {
			if m.c != nil && m.fault.Load() == 0 && m.got.Load() < owed[i] {
				done = false
				break
			}
		}
		if done {
			break
		}
		select {
		case <-ctx.Done():
			interrupted = true
		case <-tick.C:
		}
	}
	tick.Stop()
	if !w.t0.IsZero() {
		w.t1 = time.Now()
		w.gu1, w.gs1 = selfCPU()
		for i, pid := range cfg.PIDs {
			t, err := procCPU(pid)
			if err != nil {
				w.srvOK, w.srvErr = false, err.Error()
			}
			u, s := split(w.srv0[i], t)
			w.su, w.ss = w.su+u, w.ss+s
		}
		if len(cfg.PIDs) > 0 {
			pct := round1(100 * float64(runWait(cfg.PIDs)-wait0) / float64(w.t1.Sub(w.t0)))
			rep.ServerWait = &pct
		}
	}
	r.close()
	r.collect(rep)
	rep.Interrupted = interrupted

	for s := range r.sent {
		rep.Sent += r.sent[s].Load()
	}
	for i, m := range r.members {
		if m.c == nil {
			continue // never joined: owed nothing
		}
		rep.Owed += owed[i]
		rep.Delivered += m.got.Load()
		rep.Duplicates += m.dup
		rep.OutOfOrder += m.ooo
		rep.Malformed += m.bad
		rep.Measured += m.measured
	}
	rep.Lost = max(rep.Owed-rep.Delivered, 0)
	rep.Unanswered = r.unanswered()
	rep.PerMember = r.perMember()
	if rep.Unanswered > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s deliveries were owed when sending ended and still had not arrived %s later (--timeout)",
			count(float64(rep.Unanswered)), fmtDur(cfg.Timeout.Seconds())))
	}
	if p := rep.PerMember; p.Starved > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d of %d members starved, with under a tenth of the median's deliveries or none (per member: min %s, median %s, max %s): the server does not serve its members fairly",
			p.Starved, p.Connections, count(float64(p.Min)), count(float64(p.Median)), count(float64(p.Max))))
	}
	win := min(sendEnd.Sub(r.base)-cfg.Warmup, cfg.Duration)
	if win > 0 && !w.t0.IsZero() {
		rep.Seconds = round3(win.Seconds())
		rep.Deliveries = math.Round(float64(rep.Measured) / win.Seconds())
		rep.Messages = round1(rep.Deliveries / float64(max(rep.Joined-1, 1)))
	}
	lat := newHist()
	for _, sh := range r.shards {
		lat.Merge(sh.lat)
	}
	rep.Latency = summarize(lat)
	rep.Percentiles = percentiles(lat)
	if !w.t0.IsZero() {
		wall := w.t1.Sub(w.t0)
		gu, gs := w.gu1-w.gu0, w.gs1-w.gs0
		rep.Generator = CPUUse{User: round3(gu.Seconds()), Sys: round3(gs.Seconds())}
		if n := len(w.cpus); n > 0 && wall > 0 {
			rep.Generator.Percent = round1(100 * float64(gu+gs) / float64(wall) / float64(n))
		}
		if w.srvOK && rep.Measured > 0 {
			// Per delivery: the server's CPU over the window (warmup
			// end to drain end) over the deliveries of the messages
			// sent in it.
			rep.Server = &ServerCPU{
				User: round3(w.su.Seconds()), Sys: round3(w.ss.Seconds()),
				UserPer: round3(float64(w.su.Microseconds()) / float64(rep.Measured)),
				SysPer:  round3(float64(w.ss.Microseconds()) / float64(rep.Measured)),
				Percent: round1(100 * float64(w.su+w.ss) / float64(wall)),
			}
		} else if w.srvErr != "" {
			rep.Warnings = append(rep.Warnings, "server CPU: "+w.srvErr)
		}
		if rep.Generator.Percent > 90 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("the generator used %.0f%% of its CPUs: latency may be its own", rep.Generator.Percent))
		}
	}
	return rep, nil
}

// owed is what each member should get: every message of every sender but
// itself, if it was connected to hear it.
func (r *chatRun) owed() []int64 {
	var all int64
	for s := range r.sent {
		all += r.sent[s].Load()
	}
	o := make([]int64, len(r.members))
	for i := range o {
		o[i] = all
		if i < len(r.sent) {
			o[i] -= r.sent[i].Load()
		}
	}
	return o
}

// unanswered counts, for the members still connected, the messages of each
// sender after the last one of that sender's that arrived. Call it once
// the readers are done.
func (r *chatRun) unanswered() int64 {
	var n int64
	for _, m := range r.members {
		if m.c == nil || m.fault.Load() != 0 {
			continue
		}
		for s := range r.sent {
			if s != m.id {
				n += max(r.sent[s].Load()-int64(m.next[s]), 0)
			}
		}
	}
	return n
}

// perMember is the spread of deliveries over the members that only
// listen, whose dues are alike (or over all, when all send).
func (r *chatRun) perMember() Spread {
	var got []int64
	for _, m := range r.members {
		if m.id >= len(r.sent) || len(r.sent) == len(r.members) {
			got = append(got, m.got.Load())
		}
	}
	return spread(got)
}

// close ends every connection and waits for the readers.
func (r *chatRun) close() {
	r.stopping.Store(true)
	for _, m := range r.members {
		if m.c != nil {
			m.c.SetReadDeadline(time.Unix(1, 0))
		}
	}
	r.wg.Wait()
	for _, m := range r.members {
		if m.c != nil {
			m.c.Close()
		}
	}
}

func (r *chatRun) collect(rep *ChatReport) {
	for _, m := range r.members {
		if k := kind(m.fault.Load()); k != 0 {
			rep.Errors[k.String()]++
		}
	}
}

// fail records why a member's connection broke; only the first reason
// counts.
func (m *chatMember) fail(k kind) { m.fault.CompareAndSwap(0, int32(k)) }

func faultKind(err error) kind {
	switch {
	case isTimeout(err):
		return kindTimeout
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), isReset(err):
		return kindClosed
	}
	return kindIO
}

func isReset(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "broken pipe")
}

// login connects m, registers its nick and joins its room, waiting for the
// server to confirm each step.
func (r *chatRun) login(ctx context.Context, m *chatMember) {
	d := net.Dialer{Timeout: r.cfg.Timeout}
	addr := r.cfg.Addr
	if n := len(r.cfg.Also); n > 0 && m.id%(n+1) > 0 {
		addr = r.cfg.Also[m.id%(n+1)-1]
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		m.fail(kindConnect)
		return
	}
	m.c = c
	c.SetDeadline(time.Now().Add(r.cfg.Timeout))
	defer c.SetDeadline(time.Time{})
	var steps []struct {
		send string
		ok   func(l []byte) bool
	}
	if r.cfg.IRC {
		steps = append(steps,
			struct {
				send string
				ok   func(l []byte) bool
			}{"NICK " + m.nick + "\r\nUSER " + m.nick + " 0 * :bench\r\n", func(l []byte) bool { return ircNumeric(l, "001") }},
			struct {
				send string
				ok   func(l []byte) bool
			}{"JOIN #" + m.room + "\r\n", func(l []byte) bool { return ircNumeric(l, "366") }})
	} else {
		in := []byte("* You are in " + m.room + " ")
		already := []byte("* You are already in " + m.room + ".")
		steps = append(steps,
			struct {
				send string
				ok   func(l []byte) bool
			}{m.nick + "\r\n", func(l []byte) bool { return bytes.HasPrefix(l, []byte("Hello ")) }},
			struct {
				send string
				ok   func(l []byte) bool
			}{"/join " + m.room + "\r\n", func(l []byte) bool { return bytes.HasPrefix(l, in) || bytes.HasPrefix(l, already) }})
	}
	for _, st := range steps {
		if _, err := io.WriteString(c, st.send); err != nil {
			m.fail(faultKind(err))
			return
		}
		if k := m.await(st.ok); k != 0 {
			m.fail(k)
			return
		}
	}
}

// ircNumeric reports whether l is the numeric reply code.
func ircNumeric(l []byte, code string) bool {
	if len(l) > 0 && l[0] == '@' {
		if i := bytes.IndexByte(l, ' '); i >= 0 {
			l = l[i+1:]
		}
	}
	i := bytes.IndexByte(l, ' ')
	return i >= 0 && bytes.HasPrefix(l[i+1:], []byte(code+" "))
}

// await reads lines until ok accepts one; what follows it stays in the
// buffer for the reader.
func (m *chatMember) await(ok func(l []byte) bool) kind {
	for {
		b := m.buf[:m.have]
		for {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				break
			}
			l := bytes.TrimSuffix(b[:i], []byte("\r"))
			b = b[i+1:]
			if bytes.HasPrefix(l, []byte("ERROR ")) || bytes.HasPrefix(l, []byte("! ")) && !bytes.Contains(l, []byte("already")) {
				m.have = copy(m.buf, b)
				return kindProtocol
			}
			if ok(l) {
				m.have = copy(m.buf, b)
				return 0
			}
		}
		m.have = copy(m.buf, b)
		if m.have == len(m.buf) {
			m.have = 0 // a line longer than the buffer: not what we wait for
		}
		n, err := m.c.Read(m.buf[m.have:])
		m.have += n
		if err != nil && n == 0 {
			return faultKind(err)
		}
	}
}

// read is a member's receive loop: it checks every message of the run and
// times it. It allocates nothing per message.
func (r *chatRun) read(m *chatMember) {
	defer r.wg.Done()
	defer m.flush()
	for {
		if m.have > 0 {
			if !r.scan(m) {
				return
			}
		}
		if m.have == len(m.buf) {
			m.have = 0 // a line longer than the buffer: no message of ours
		}
		n, err := m.c.Read(m.buf[m.have:])
		m.have += n
		if err != nil {
			if n > 0 {
				r.scan(m)
			}
			if !r.stopping.Load() {
				m.fail(faultKind(err))
			}
			return
		}
	}
}

// scan handles the complete lines in m's buffer.
func (r *chatRun) scan(m *chatMember) bool {
	now := r.now()
	b := m.buf[:m.have]
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		l := b[:i]
		b = b[i+1:]
		if r.cfg.IRC && bytes.HasPrefix(l, []byte("PING ")) {
			if _, err := m.c.Write(r.pong); err != nil {
				m.fail(faultKind(err))
				return false
			}
			continue
		}
		j := bytes.Index(l, r.tag)
		if j < 0 {
			continue
		}
		r.message(m, l[j+len(r.tag):], now)
	}
	m.have = copy(m.buf, b)
	return true
}

// message checks one message's "SENDER COUNTER NANOS" and records it.
func (r *chatRun) message(m *chatMember, p []byte, now int64) {
	s, p, ok1 := uintField(p)
	q, p, ok2 := uintField(p)
	ts, _, ok3 := uintField(p)
	if !ok1 || !ok2 || !ok3 || s >= uint64(len(m.next)) || int(s) == m.id {
		m.bad++
		return
	}
	// seen[s] has bit i set if counter next-1-i has arrived: enough to
	// tell a late arrival from a repeat within the last 64 messages.
	next := uint64(m.next[s])
	if q < next {
		d := next - 1 - q
		if d >= 64 || m.seen[s]&(1<<d) != 0 {
			m.dup++
			return
		}
		m.seen[s] |= 1 << d
		m.ooo++
	} else {
		shift := q + 1 - next
		if shift >= 64 {
			m.seen[s] = 0
		} else {
			m.seen[s] <<= shift
		}
		m.seen[s] |= 1
		m.next[s] = uint32(q + 1)
	}
	m.got.Add(1)
	if int64(ts) >= r.warmNs && int64(ts) < r.endNs {
		m.measured++
		m.lat[m.nlat] = now - int64(ts)
		m.nlat++
		if m.nlat == len(m.lat) {
			m.flush()
		}
	}
}

func (m *chatMember) flush() {
	if m.nlat == 0 {
		return
	}
	m.sh.mu.Lock()
	for _, v := range m.lat[:m.nlat] {
		recordHist(m.sh.lat, v)
	}
	m.sh.mu.Unlock()
	m.nlat = 0
}

// uintField parses a decimal number and skips one space after it.
func uintField(p []byte) (uint64, []byte, bool) {
	var v uint64
	i := 0
	for ; i < len(p) && p[i] >= '0' && p[i] <= '9' && i < 19; i++ {
		v = v*10 + uint64(p[i]-'0')
	}
	if i == 0 {
		return 0, p, false
	}
	if i < len(p) && p[i] == ' ' {
		i++
	}
	return v, p[i:], true
}

// send says sender s's messages on their schedule. Messages that fall due
// together go out in one write, each with its own intended time.
func (r *chatRun) send(ctx context.Context, s int, m *chatMember) {
	cfg := r.cfg
	interval := float64(cfg.Senders) / cfg.Rate * 1e9 // ns between this sender's messages
	offset := interval * float64(s) / float64(cfg.Senders)
	var prefix []byte
	if cfg.IRC {
		prefix = []byte("PRIVMSG #" + cfg.Room + " :")
	}
	buf := make([]byte, 0, 64<<10)
	var k uint64
	for {
		now := r.now()
		buf = buf[:0]
		for {
			due := int64(offset + float64(k)*interval)
			if due > now || due >= r.endNs || len(buf) > 60<<10 {
				break
			}
			start := len(buf)
			buf = append(buf, prefix...)
			buf = append(buf, r.tag...)
			buf = strconv.AppendInt(buf, int64(s), 10)
			buf = append(buf, ' ')
			buf = strconv.AppendUint(buf, k, 10)
			buf = append(buf, ' ')
			buf = strconv.AppendInt(buf, due, 10)
			for len(buf)-start-len(prefix) < cfg.Size {
				buf = append(buf, '.')
			}
			buf = append(buf, '\r', '\n')
			k++
		}
		if len(buf) > 0 {
			m.c.SetWriteDeadline(time.Now().Add(cfg.Timeout))
			_, err := m.c.Write(buf)
			// Counted even if the write failed part way: the
			// receivers' losses then show it.
			r.sent[s].Store(int64(k))
			if err != nil {
				m.fail(faultKind(err))
				return
			}
		}
		next := int64(offset + float64(k)*interval)
		if next >= r.endNs {
			return
		}
		if d := time.Duration(next - r.now()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		} else if ctx.Err() != nil {
			return
		}
	}
}

// runWait sums the time the threads of pids have spent waiting on a run
// queue: the second field of /proc/PID/task/TID/schedstat.
func runWait(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			continue
		}
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
			if err != nil {
				continue
			}
			if f := strings.Fields(string(b)); len(f) >= 2 {
				ns, _ := strconv.ParseInt(f[1], 10, 64)
				total += time.Duration(ns)
			}
		}
	}
	return total
}

// rss sums the resident memory of pids, from /proc/PID/status.
func rss(pids []int) int64 {
	var total int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for l := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				f := strings.Fields(v)
				if len(f) > 0 {
					n, _ := strconv.ParseInt(f[0], 10, 64)
					total += n << 10
				}
			}
		}
	}
	return total
}

// WriteJSON writes the report as indented JSON.
func (r *ChatReport) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

// WriteText writes the report for people.
func (r *ChatReport) WriteText(w io.Writer) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	if r.Idle {
		p("chat idle  %s  %s door, %s members in %s\n", r.Addr, r.Door, count(float64(r.Members)), r.roomNames())
	} else {
		p("chat  %s  %s door, room %s: %s members, %d senders at %s msg/s for %s (warmup %s)\n",
			r.Addr, r.Door, r.Room, count(float64(r.Members)), r.Senders, count(r.Rate), fmtDur(r.Duration), fmtDur(r.Warmup))
	}
	p("joined       %s of %s in %s\n", count(float64(r.Joined)), count(float64(r.Members)), fmtDur(r.JoinTime))
	if !r.Idle {
		verdict := "yes"
		if r.Lost+r.Duplicates+r.OutOfOrder+r.Malformed > 0 {
			verdict = "NO"
		}
		p("sent         %s messages, owing %s deliveries\n", count(float64(r.Sent)), count(float64(r.Owed)))
		p("delivered    %s  lost %s (unanswered %s)  duplicates %s  out of order %s  malformed %s  (exactly once, in order: %s)\n",
			count(float64(r.Delivered)), count(float64(r.Lost)), count(float64(r.Unanswered)), count(float64(r.Duplicates)),
			count(float64(r.OutOfOrder)), count(float64(r.Malformed)), verdict)
		if s := r.PerMember; s.Connections > 0 {
			p("per member   deliveries: min %s  median %s  max %s", count(float64(s.Min)), count(float64(s.Median)), count(float64(s.Max)))
			if s.Starved > 0 {
				p("  (%d of %d starved)", s.Starved, s.Connections)
			}
			p("\n")
		}
		p("throughput   %s deliveries/s (%s msg/s) over %s\n", count(r.Deliveries), count(r.Messages), fmtDur(r.Seconds))
		l := r.Latency
		p("latency      mean %s  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (publish to delivery, from the intended send)\n",
			fmtUS(l.Mean), fmtUS(l.P50), fmtUS(l.P90), fmtUS(l.P99), fmtUS(l.P999), fmtUS(l.Max))
		if s := r.Server; s != nil {
			p("server cpu   user %.3fµs + sys %.3fµs per delivery, %.0f%% of one core", s.UserPer, s.SysPer, s.Percent)
			if r.ServerWait != nil {
				p("; runnable but waiting for a CPU %.0f%% of the time", *r.ServerWait)
			}
			p("\n")
		}
		g := r.Generator
		p("generator    user %.2fs sys %.2fs, %.0f%% of CPUs %s; waiting for a CPU %.0f%% of the time\n", g.User, g.Sys, g.Percent, r.GenCPUs, r.GenWait)
	}
	if m := r.Memory; m != nil {
		p("server rss   %s before, %s after: %s bytes per member\n", mib(m.Before), mib(m.After), count(m.PerMember))
	}
	if len(r.Errors) > 0 {
		p("errors      ")
		for _, k := range kindNames[1:] {
			if n := r.Errors[k]; n > 0 {
				p(" %s %s", k, count(float64(n)))
			}
		}
		p(" (members whose connection broke)\n")
	}
	if r.Interrupted {
		p("interrupted: partial report\n")
	}
	for _, wn := range r.Warnings {
		p("warning: %s\n", wn)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *ChatReport) roomNames() string {
	if r.Rooms > 1 {
		return fmt.Sprintf("%d rooms %s0 to %s%d", r.Rooms, r.Room, r.Room, r.Rooms-1)
	}
	return "room " + r.Room
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
