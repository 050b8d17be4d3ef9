package httpd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portside/portside/proto/http1"
	"github.com/portside/portside/server"
)

// Handler is the HTTP/1.1 service: a server.Handler, with the optional
// EOFHandler, Drainer and Refuser abilities. Create it with New; call Stop
// once the engine's Serve has returned.
type Handler struct {
	o        Options
	root     *os.Root
	files    *fileCache
	routes   *Router
	date     dateCache
	common   []byte // fields every response carries
	allow    string // methods files answer, for Allow
	authOn   bool
	authWant [32]byte // authSum of the user:password that passes
	throttle *authThrottle
	log      *rateLog // for lines clients can provoke
	alog     *accessLog
	zipSlots chan struct{}
	boundary string // of multipart/byteranges bodies
	plimits  http1.Limits

	ctx    context.Context // cancelled by Stop: blocking routes' contexts derive from it
	cancel context.CancelFunc

	mu        sync.Mutex
	conns     map[*conn]struct{}
	sweepStop chan struct{}
	sweepDone chan struct{}

	stallMu    sync.Mutex
	stalled    []*conn
	stallKick  chan struct{}
	resumeDone chan struct{}
	stopOnce   sync.Once
}

var (
	_ server.Handler    = (*Handler)(nil)
	_ server.EOFHandler = (*Handler)(nil)
	_ server.Drainer    = (*Handler)(nil)
	_ server.Refuser    = (*Handler)(nil)
)

// New returns a Handler for o. It opens o.Root, if set, and starts the
// goroutine that enforces the header and body timeouts.
func New(o Options) (*Handler, error) {
	o = o.withDefaults()
	h := &Handler{o: o, routes: o.Routes, conns: make(map[*conn]struct{})}
	if o.Root != "" {
		root, err := os.OpenRoot(o.Root)
		if err != nil {
			return nil, fmt.Errorf("httpd: root: %w", err)
		}
		h.root = root
		h.files = newFileCache(root, &h.o)
	}
	h.log = newRateLog(o.Logger, 20)
	if o.Auth != "" {
		if !strings.Contains(o.Auth, ":") {
			return nil, errors.New("httpd: auth must be user:password")
		}
		h.authOn = true
		h.authWant = authSum([]byte(o.Auth))
		h.throttle = newAuthThrottle(o.AuthDelay)
	}
	h.common = append(h.common, "Server: portside\r\n"...)
	if o.CORS {
		h.common = append(h.common, "Access-Control-Allow-Origin: *\r\n"...)
		h.common = append(h.common, "Access-Control-Expose-Headers: Content-Length, Content-Range, ETag, Last-Modified, Accept-Ranges\r\n"...)
	}
	h.allow = "GET, HEAD, OPTIONS"
	if o.Upload {
		h.allow += ", PUT, POST"
	}
	if o.AccessLog != nil || o.Requests != nil {
		h.alog = newAccessLog(o.AccessLog, o.AccessLogJSON, o.Requests)
	}
	var rb [12]byte
	rand.Read(rb[:])
	h.boundary = hex.EncodeToString(rb[:])
	h.zipSlots = make(chan struct{}, 2)
	h.plimits.MaxBody = o.MaxBody
	if o.Upload {
		h.plimits.MaxBody = max(o.MaxBody, o.MaxUpload)
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.sweepStop = make(chan struct{})
	h.sweepDone = make(chan struct{})
	h.stallKick = make(chan struct{}, 1)
	h.resumeDone = make(chan struct{})
	go h.sweep()
	go h.resumer()
	return h, nil
}

// Stop ends the handler's background work, flushes the access log, removes
// compressed copies and closes the root. Blocking routes still running see
// their context cancelled.
func (h *Handler) Stop() error {
	h.stopOnce.Do(func() {
		h.cancel()
		close(h.sweepStop)
		<-h.sweepDone
		<-h.resumeDone
		if h.files != nil {
			h.files.close()
		}
		if h.alog != nil {
			h.alog.close()
		}
		if h.root != nil {
			h.root.Close()
		}
	})
	return nil
}

// dateCache formats the Date field once a second, not once a response.
type dateCache struct {
	sec atomic.Int64
	hdr atomic.Pointer[[]byte]
}

func (d *dateCache) get(now time.Time) []byte {
	s := now.Unix()
	if p := d.hdr.Load(); p != nil && d.sec.Load() == s {
		return *p
	}
	b := http1.AppendDate(nil, now)
	d.hdr.Store(&b)
	d.sec.Store(s)
	return b
}

// action is what the server does with the request being read.
type action uint8

const (
	actStatic action = iota // a file, listing or OPTIONS: answered at End
	actReply                // a status decided at Head, sent at End
	actRoute                // a Router's handler, called at End with the body
	actPut                  // PUT upload
	actForm                 // multipart/form-data upload
)

// Request phases, for the timeouts.
const (
	phaseIdle = iota // between requests
	phaseHead        // part of a head has arrived
	phaseBody        // reading a body
	phaseBusy        // a blocking route runs
)

// conn is one connection's state. mu is held by whichever goroutine
// processes its input: the engine's, in Data, or a blocking route's, which
// takes over the requests pipelined behind it.
type conn struct {
	h  *Handler
	c  server.Conn
	mu sync.Mutex
	p  http1.Parser

	out    []byte // responses being built, written at the end of the batch
	pbuf   []byte // the cleaned path
	ranges []http1.ByteRange
	hd     reqHeaders
	now    time.Time
	nowNs  int64

	// The request being read.
	act        action
	replyCode  int
	path       []byte
	pathSt     pathStatus
	closeAfter bool // the response says Connection: close
	ka10       bool // HTTP/1.0 keep-alive: the response says so
	route      *route
	body       []byte // a route's body
	up         *upload
	user       string // authenticated user, for the access log
	logStatus  int
	logBytes   int64
	unlogged   bool          // the request has no access log line yet
	replyDelay time.Duration // how long an actReply waits
	discarded  int64         // bytes of an unwanted body dropped

	authFails int        // failed authentications on this connection
	held      bool       // waits for its turn to be judged (authorize)
	heldKey   netip.Addr // the address it waits for
	dropInput bool       // the answer is decided and input unwanted
	laterFn   func()     // what later put off
	laterGen  uint64     // counts later's calls

	closing  bool      // answer nothing more; close once flushed
	async    bool      // a blocking route runs, or an answer is put off (later)
	stalled  bool      // waits for queued output to be sent
	sq       sendQueue // what was handed to the engine
	gone     atomic.Bool
	taken    Takeover // the protocol the connection was upgraded to
	backlog  []byte   // input that arrived while it runs
	pending  []byte   // input the upgraded protocol left unconsumed
	draining bool
	eof      bool
	closed   bool
	ctx      context.Context
	cancel   context.CancelFunc

	// Read by the sweeper.
	phase atomic.Int32
	since atomic.Int64 // unix nanoseconds the phase began
	bodyN atomic.Int64 // body bytes of the request being read
	// Sweeper's own.
	rateAt   int64
	rateMark int64
}

// Open implements server.Handler.
func (h *Handler) Open(c server.Conn) {
	cn := &conn{h: h, c: c}
	cn.p.Limits = h.plimits
	cn.ranges = make([]http1.ByteRange, 0, h.o.MaxRanges)
	c.SetValue(cn)
	h.mu.Lock()
	h.conns[cn] = struct{}{}
	h.mu.Unlock()
}

// Close implements server.Handler.
func (h *Handler) Close(c server.Conn, err error) {
	cn, ok := c.Value().(*conn)
	if !ok {
		return
	}
	h.mu.Lock()
	delete(h.conns, cn)
	h.mu.Unlock()
	cn.gone.Store(true)
	cn.mu.Lock()
	cn.closed = true
	if cn.unlogged {
		// A request read, in part or whole, and never answered: its
		// client went away, or the server shut down before it was done.
		cn.tick()
		cn.logUnanswered(statusClosed)
	}
	if cn.up != nil {
		cn.up.abort()
		cn.up = nil
	}
	if cn.cancel != nil {
		cn.cancel()
	}
	t := cn.taken
	cn.mu.Unlock()
	if t != nil {
		t.Close(c, err)
	}
}

// maxBacklog bounds the input kept while a blocking route runs: requests
// pipelined behind it, which are answered after it.
const maxBacklog = 64 << 10

var errBacklog = errors.New("httpd: too much input pipelined behind a running request")

// Data implements server.Handler. It consumes all input.
func (h *Handler) Data(c server.Conn, in []byte) (int, error) {
	cn := c.Value().(*conn)
	cn.mu.Lock()
	if cn.taken != nil {
		cn.mu.Unlock()
		return cn.feed(in)
	}
	defer cn.mu.Unlock()
	if cn.async || cn.stalled {
		if cn.dropInput {
			return len(in), nil // a body refused, by an answer still to come
		}
		if len(cn.backlog)+len(in) > maxBacklog {
			return 0, errBacklog
		}
		cn.backlog = append(cn.backlog, in...)
		return len(in), nil
	}
	cn.tick()
	cn.process(in)
	cn.flush()
	if cn.taken != nil {
		// Input that came behind the upgrade request is the new
		// protocol's. It gets its connection now even if there is none,
		// so that it can close a client that never speaks.
		in := cn.backlog
		cn.backlog = nil
		if _, err := cn.feed(in); err != nil {
			return len(in), err
		}
	}
	return len(in), nil
}

// feed hands input to the protocol the connection was upgraded to. What it
// leaves unconsumed is kept here, so that httpd's Data can go on consuming
// everything; the engine's input limit no longer bounds it, so it is bounded
// by maxBacklog.
func (cn *conn) feed(in []byte) (int, error) {
	got := len(in)
	if len(cn.pending) > 0 {
		cn.pending = append(cn.pending, in...)
		in = cn.pending
	}
	n, err := cn.taken.Data(cn.c, in)
	if err != nil {
		return got, err
	}
	rest := in[n:]
	if len(rest) > maxBacklog {
		return got, errBacklog
	}
	cn.pending = append(cn.pending[:0], rest...)
	return got, nil
}

// ReadEOF implements server.EOFHandler: a client that shut its write side
// still gets the responses it asked for.
func (h *Handler) ReadEOF(c server.Conn, rest []byte) {
	cn := c.Value().(*conn)
	cn.mu.Lock()
	defer cn.mu.Unlock()
	cn.eof = true
	if !cn.async && !cn.stalled || cn.taken != nil {
		c.Close()
	}
}

// Drain implements server.Drainer: a response in progress is finished,
// then the connection closes; an idle keep-alive connection closes now.
// The engine reads no more input, so a request partly read cannot be
// completed: it is answered 503 with Connection: close, and the client
// may send it again to another server or once this one is back.
func (h *Handler) Drain(c server.Conn) {
	cn := c.Value().(*conn)
	cn.mu.Lock()
	defer cn.mu.Unlock()
	cn.draining = true
	if d, ok := cn.taken.(server.Drainer); ok {
		cn.mu.Unlock()
		d.Drain(c)
		cn.mu.Lock()
		return
	}
	if cn.async {
		switch {
		case cn.held:
			// Waiting for its turn to have its credentials judged:
			// not worth waiting for now.
			cn.endLater()
			cn.tick()
			cn.cutShort()
			cn.flush()
		case cn.laterFn != nil:
			// An answer put off: it is decided, so it goes now.
			cn.runLater(cn.laterGen)
		}
		return // else goOn finishes it, then closes
	}
	cn.tick()
	if cn.partial() && !cn.closing {
		cn.cutShort()
	}
	cn.closing = true
	cn.flush()
}

// cutShort answers a request partly read that no more input will
// complete, on shutdown: 503, and the connection closes.
func (cn *conn) cutShort() {
	if cn.up != nil {
		cn.up.abort()
		cn.up = nil
	}
	cn.closeAfter = true
	if cn.unlogged {
		// The head is in: answer it as the request it is.
		cn.dropInput = false
		cn.sendError(503)
	} else {
		cn.out = http1.AppendError(cn.out, 503, cn.now, "")
		if cn.h.alog != nil {
			cn.h.alog.logRaw(cn, 503)
		}
	}
	cn.closing = true
	cn.setPhase(phaseIdle)
}

// statusClosed is logged for a request never answered because its
// connection closed first, as nginx does.
const statusClosed = 499

// logUnanswered logs the request being read, which gets no answer.
func (cn *conn) logUnanswered(status int) {
	cn.unlogged = false
	if cn.h.alog != nil {
		cn.h.alog.logRequest(cn, cn.p.Request(), status, 0)
	}
}

// Refuse implements server.Refuser: 503 with the reason.
func (h *Handler) Refuse(reason error) []byte {
	msg := "server busy\n"
	if errors.Is(reason, server.ErrTooManyFromIP) {
		msg = "too many connections from your address\n"
	}
	b := http1.AppendStatusLine(nil, 503)
	b = append(b, "Retry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"...)
	b = http1.AppendContentLength(b, int64(len(msg)))
	b = append(b, "\r\n"...)
	return append(b, msg...)
}

func (cn *conn) tick() {
	cn.now = cn.h.o.Now()
	cn.nowNs = cn.now.UnixNano()
}

func (cn *conn) setPhase(p int32) {
	if cn.phase.Load() != p {
		cn.phase.Store(p)
		cn.since.Store(cn.nowNs)
	}
}

// process runs the parser over input until it is used up, the connection
// is closing, or a blocking route starts or too much output is queued,
// either of which keeps the rest as backlog.
func (cn *conn) process(in []byte) {
	// Not just while there is input: End follows a body-less head with
	// no more input needed.
	for !cn.closing && !cn.async && !cn.stalled && cn.taken == nil {
		if len(in) > 0 && cn.phase.Load() == phaseIdle && cn.queueFull() {
			// A new request, with files or much output still queued:
			// it waits for them to go (see sendQueue).
			cn.stalled = true
			cn.h.stall(cn)
			break
		}
		n, ev, err := cn.p.Next(in)
		in = in[n:]
		if err != nil {
			cn.parseError(err)
			return
		}
		switch ev {
		case http1.Head:
			cn.setPhase(phaseBody)
			cn.bodyN.Store(0)
			cn.onHead()
		case http1.Body:
			b := cn.p.Body()
			cn.bodyN.Add(int64(len(b)))
			cn.onBody(b)
		case http1.End:
			cn.setPhase(phaseIdle)
			cn.onEnd()
		case http1.NeedMore:
			if n > 0 && cn.phase.Load() == phaseIdle {
				cn.setPhase(phaseHead)
			}
			return
		}
	}
	if (cn.async || cn.stalled || cn.taken != nil) && len(in) > 0 {
		cn.backlog = append(cn.backlog, in...)
	}
}

// stall registers a connection that waits for its queued files to go.
func (h *Handler) stall(cn *conn) {
	h.stallMu.Lock()
	h.stalled = append(h.stalled, cn)
	h.stallMu.Unlock()
	select {
	case h.stallKick <- struct{}{}:
	default:
	}
}

// resumer goes on with stalled connections once their output drained. It
// polls, every millisecond or a little more, only while some connection is
// stalled: there is no notification of a queue draining (when there is,
// it can call tryResume instead), and a deep pipeline of large files is
// rare.
func (h *Handler) resumer() {
	defer close(h.resumeDone)
	var keep []*conn
	for {
		select {
		case <-h.sweepStop:
			return
		case <-h.stallKick:
		}
		wait := time.Millisecond
		for {
			h.stallMu.Lock()
			list := h.stalled
			h.stalled = keep[:0]
			h.stallMu.Unlock()
			keep = list[:0]
			progress := false
			for _, cn := range list {
				switch cn.tryResume() {
				case stillStalled:
					keep = append(keep, cn)
				case resumed:
					progress = true
				}
			}
			// Back off while nothing drains: a client that does not
			// read keeps its connection stalled until the idle timeout.
			if progress {
				wait = time.Millisecond
			} else {
				wait = min(2*wait, 20*time.Millisecond)
			}
			if len(keep) == 0 {
				break
			}
			h.stallMu.Lock()
			h.stalled = append(h.stalled, keep...)
			h.stallMu.Unlock()
			clear(keep)
			t := time.NewTimer(wait)
			select {
			case <-h.sweepStop:
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// later runs fn after d on a timer, holding the connection's input back
// meanwhile as a blocking route does: the engine's goroutine never waits,
// and requests pipelined behind wait in the backlog, so answers stay in
// order.
func (cn *conn) later(d time.Duration, fn func()) {
	cn.async = true
	cn.setPhase(phaseBusy)
	cn.laterGen++
	gen := cn.laterGen
	cn.laterFn = fn
	time.AfterFunc(d, func() {
		cn.mu.Lock()
		defer cn.mu.Unlock()
		cn.runLater(gen)
	})
}

// runLater runs what later put off, unless that is done already (on
// shutdown, Drain does not wait).
func (cn *conn) runLater(gen uint64) {
	if gen != cn.laterGen || cn.laterFn == nil {
		return
	}
	fn := cn.laterFn
	cn.endLater()
	if cn.closed || cn.closing {
		return
	}
	cn.tick()
	fn()
	cn.goOn()
}

// endLater ends what later started, without running it.
func (cn *conn) endLater() {
	cn.laterFn = nil
	cn.async = false
	if cn.held {
		cn.held = false
		cn.h.throttle.unwait(cn.heldKey)
	}
}

// goOn goes on with the input that waited behind a blocking route or an
// answer put off, once it is done.
func (cn *conn) goOn() {
	if cn.async {
		return // put off again
	}
	if cn.phase.Load() == phaseBusy {
		cn.setPhase(phaseIdle)
	}
	// On shutdown the connection closes after the response in flight;
	// but a request partly read is read to its end, from what came.
	if !cn.closing && (!cn.draining || cn.partial()) {
		in := cn.backlog
		cn.backlog = nil
		cn.process(in)
	}
	cn.settle()
}

// partial reports whether a request has been partly read.
func (cn *conn) partial() bool {
	p := cn.phase.Load()
	return p == phaseHead || p == phaseBody
}

// settle flushes a batch of answers. Once no more input will come (the
// engine drains it, or the client shut its side) and nothing is pending,
// the connection closes.
func (cn *conn) settle() {
	if (cn.draining || cn.eof) && !cn.async && !cn.stalled && !cn.closing {
		if cn.draining && cn.partial() {
			cn.cutShort()
		}
		cn.closing = true
	}
	cn.flush()
}

type resumeResult int

const (
	stillStalled resumeResult = iota
	resumed
	notStalled // closed meanwhile
)

// tryResume goes on with the requests of a stalled connection if its
// output has drained enough.
func (cn *conn) tryResume() resumeResult {
	if cn.gone.Load() {
		return notStalled
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.closed || !cn.stalled {
		return notStalled
	}
	if cn.queueFull() {
		return stillStalled
	}
	cn.stalled = false
	in := cn.backlog
	cn.backlog = nil
	cn.tick()
	cn.process(in)
	cn.settle()
	return resumed
}

// flush writes the batch of responses, and closes the connection if it is
// done.
func (cn *conn) flush() {
	cn.writeOut()
	if cn.closing {
		cn.c.Close()
	}
	if cap(cn.out) > 256<<10 {
		cn.out = nil // a burst; do not keep it
	}
}

// parseError answers a request the parser refused, and closes: its framing
// can no longer be trusted (RFC 9112 §6.3).
func (cn *conn) parseError(err error) {
	status := 400
	var he *http1.Error
	if errors.As(err, &he) {
		status = he.Status
	}
	cn.out = http1.AppendError(cn.out, status, cn.now, "")
	cn.closing = true
	if cn.up != nil {
		cn.up.abort()
		cn.up = nil
	}
	cn.logRefused(status)
}

// logRefused logs a request answered status by the parser or a timeout,
// with its method, target and fields if its head was read.
func (cn *conn) logRefused(status int) {
	switch {
	case cn.unlogged: // refused in its body
		cn.logUnanswered(status)
	case cn.h.alog == nil:
	case cn.p.RefusedHead() != nil:
		cn.h.alog.logRequest(cn, cn.p.RefusedHead(), status, 0)
	default:
		cn.h.alog.logRaw(cn, status)
	}
}

// reqHeaders are the request fields the server reads, found in one pass.
type reqHeaders struct {
	ifMatch, ifNoneMatch, ifModSince, ifUnmodSince, ifRange, rng  []byte
	acceptEnc, accept, auth, origin, acrMethod, acrHeaders, ctype []byte
	authN                                                         int // Authorization fields
}

func (hd *reqHeaders) scan(f *http1.Fields) {
	*hd = reqHeaders{}
	for i := range f.Len() {
		name, v := f.At(i)
		switch len(name) {
		case 5:
			if equalFold(name, "range") {
				hd.rng = v
			}
		case 6:
			switch {
			case equalFold(name, "accept"):
				hd.accept = v
			case equalFold(name, "origin"):
				hd.origin = v
			}
		case 8:
			switch {
			case equalFold(name, "if-match"):
				hd.ifMatch = v
			case equalFold(name, "if-range"):
				hd.ifRange = v
			}
		case 12:
			if equalFold(name, "content-type") {
				hd.ctype = v
			}
		case 13:
			switch {
			case equalFold(name, "if-none-match"):
				hd.ifNoneMatch = v
			case equalFold(name, "authorization"):
				hd.auth = v
				hd.authN++
			}
		case 15:
			if equalFold(name, "accept-encoding") {
				hd.acceptEnc = v
			}
		case 17:
			if equalFold(name, "if-modified-since") {
				hd.ifModSince = v
			}
		case 19:
			if equalFold(name, "if-unmodified-since") {
				hd.ifUnmodSince = v
			}
		case 29:
			if equalFold(name, "access-control-request-method") {
				hd.acrMethod = v
			}
		case 30:
			if equalFold(name, "access-control-request-headers") {
				hd.acrHeaders = v
			}
		}
	}
}

// discardMax is the largest unwanted body read and dropped to keep a
// connection; a bigger one, or one the client waits for 100 Continue to
// send, is refused by answering and closing.
const discardMax = 64 << 10

// onHead decides what to do with a request once its head is in.
func (cn *conn) onHead() {
	h := cn.h
	r := cn.p.Request()
	cn.hd.scan(&r.Header)
	cn.closeAfter = !r.KeepAlive() || cn.draining
	cn.ka10 = r.KeepAlive() && r.ProtoMinor == 0
	cn.act, cn.replyCode, cn.route, cn.user = actStatic, 0, nil, ""
	cn.logStatus, cn.logBytes, cn.unlogged = 0, 0, true
	cn.replyDelay, cn.discarded = 0, 0
	cn.body = cn.body[:0]
	if cap(cn.body) > 64<<10 {
		cn.body = nil // a large route body; do not keep it
	}

	if len(r.Path) == 1 && r.Path[0] == '*' {
		cn.pbuf = append(cn.pbuf[:0], '*')
		cn.path, cn.pathSt = cn.pbuf, pathOK
	} else if r.Method == http1.MethodConnect {
		// No tunnels here; what follows a CONNECT is not HTTP.
		cn.replyNow(405)
		return
	} else {
		cn.pbuf, cn.pathSt = cleanPath(cn.pbuf, r.Path, h.o.Dotfiles)
		cn.path = cn.pbuf
	}
	if cn.pathSt == pathBad || cn.hd.authN > 1 {
		// Two Authorization fields: which one would a proxy in front
		// have judged?
		cn.reject(400)
		return
	}
	preflight := r.Method == http1.MethodOptions && h.o.CORS && cn.hd.origin != nil && cn.hd.acrMethod != nil
	if h.o.AuthAll && !preflight && !cn.authorize() {
		return
	}
	if h.routes != nil && cn.path[0] == '/' {
		if rt, allowed := h.routes.match(r.Method, cn.path); rt != nil {
			if r.ContentLength > h.o.MaxBody {
				cn.reject(413)
				return
			}
			cn.act, cn.route = actRoute, rt
			cn.continue100()
			return
		} else if allowed != "" {
			cn.replyAllow(allowed)
			return
		}
	}
	switch r.Method {
	case http1.MethodGet, http1.MethodHead, http1.MethodOptions:
		if h.root == nil && r.Method != http1.MethodOptions {
			cn.reject(404)
			return
		}
		cn.act = actStatic
		cn.unwantedBody()
	case http1.MethodPut, http1.MethodPost:
		if !h.o.Upload || h.root == nil {
			cn.reject(405)
			return
		}
		if !h.o.AuthAll && !cn.authorize() {
			return
		}
		if r.Method == http1.MethodPut {
			cn.startPut(r)
		} else {
			cn.startForm(r)
		}
	default:
		if http1.KnownMethod(r.Method) {
			cn.reject(405)
		} else {
			cn.reject(501)
		}
	}
}

// continue100 answers Expect: 100-continue for a request whose body the
// server will read.
func (cn *conn) continue100() {
	if cn.p.Request().Expect100() {
		cn.out = http1.AppendContinue(cn.out)
	}
}

// unwantedBody deals with a body the server has no use for: a small one is
// read and dropped; a large one, or one the client holds back until 100
// Continue, is refused. A chunked body is read and dropped while it stays
// small (onBody): most are empty.
func (cn *conn) unwantedBody() {
	r := cn.p.Request()
	if r.ContentLength == 0 {
		return
	}
	if r.Expect100() || r.ContentLength > discardMax {
		cn.replyNow(413)
	}
}

// reject answers status for the request: at once, closing, if the client
// would otherwise send a body the server must read first; else at End.
func (cn *conn) reject(status int) {
	r := cn.p.Request()
	if r.ContentLength != 0 && (r.Expect100() || r.Chunked || r.ContentLength > discardMax) {
		cn.replyNow(status)
		return
	}
	cn.act, cn.replyCode = actReply, status
}

// rejectAfter is reject with the answer held back for d.
func (cn *conn) rejectAfter(status int, d time.Duration) {
	r := cn.p.Request()
	if r.ContentLength != 0 && (r.Expect100() || r.Chunked || r.ContentLength > discardMax) {
		// The body is not read: what arrives until the answer is
		// dropped, and the connection closes after it.
		cn.dropInput = true
		cn.later(d, func() {
			cn.dropInput = false
			cn.replyNow(status)
		})
		return
	}
	cn.act, cn.replyCode, cn.replyDelay = actReply, status, d
}

func (cn *conn) replyAllow(allow string) {
	cn.route = &route{allow: allow}
	cn.reject(405)
}

// appendLocation appends a Location field naming the request's cleaned
// path, percent-encoded, plus suffix. It is built from the cleaned path,
// not the target as sent, so "//host/x" cannot turn into a redirect to
// another site.
func (cn *conn) appendLocation(suffix string) {
	cn.out = append(cn.out, "Location: "...)
	for _, c := range cn.path {
		if shouldEscape(c) {
			cn.out = append(cn.out, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
		} else {
			cn.out = append(cn.out, c)
		}
	}
	cn.out = append(cn.out, suffix...)
}

// shouldEscape reports whether a path byte must be percent-encoded in a
// Location (RFC 3986 pchar and '/' pass).
func shouldEscape(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return false
	}
	return strings.IndexByte("/-._~!$&'()*+,;=:@", c) < 0
}

// replyNow answers status immediately and closes the connection, leaving
// the body unread.
func (cn *conn) replyNow(status int) {
	cn.closeAfter = true
	cn.sendError(status)
	cn.closing = true
}

func (cn *conn) onBody(b []byte) {
	switch cn.act {
	case actStatic, actReply:
		if cn.discarded += int64(len(b)); cn.discarded > discardMax {
			cn.replyNow(413)
		}
	case actRoute:
		if int64(len(cn.body)+len(b)) > cn.h.o.MaxBody {
			cn.replyNow(413)
			return
		}
		cn.body = append(cn.body, b...)
	case actPut, actForm:
		if cn.up != nil {
			if status := cn.up.write(b); status != 0 {
				cn.up = nil
				cn.replyNow(status)
			}
		}
	}
}

func (cn *conn) onEnd() {
	r := cn.p.Request()
	switch cn.act {
	case actStatic:
		cn.serveStatic(r)
	case actReply:
		if d := cn.replyDelay; d > 0 {
			status := cn.replyCode
			cn.later(d, func() {
				cn.sendError(status)
				if cn.closeAfter {
					cn.closing = true
				}
			})
			return
		}
		cn.sendError(cn.replyCode)
	case actRoute:
		cn.callRoute(r)
	case actPut, actForm:
		cn.finishUpload(r)
	}
	if cn.closeAfter && !cn.async {
		cn.closing = true // else once the answer put off is sent
	}
}

// startHead appends a response's status line, Date and the server's own
// fields.
func (cn *conn) startHead(status int) {
	cn.out = http1.AppendStatusLine(cn.out, status)
	cn.out = append(cn.out, cn.h.date.get(cn.now)...)
	cn.out = append(cn.out, cn.h.common...)
	cn.logStatus = status
}

// endHead appends Content-Length (unless negative), the connection's fate
// and the empty line.
func (cn *conn) endHead(length int64) {
	if length >= 0 {
		cn.out = http1.AppendContentLength(cn.out, length)
	}
	switch {
	case cn.closeAfter:
		cn.out = append(cn.out, "Connection: close\r\n\r\n"...)
	case cn.ka10:
		cn.out = append(cn.out, "Connection: keep-alive\r\n\r\n"...)
	default:
		cn.out = append(cn.out, "\r\n"...)
	}
}

// sendError answers status with its reason phrase as a text body, keeping
// the connection unless it is closing.
func (cn *conn) sendError(status int) {
	text := http1.StatusText(status)
	cn.startHead(status)
	switch status {
	case 401:
		cn.out = append(cn.out, "WWW-Authenticate: Basic realm=\"portside\", charset=\"UTF-8\"\r\n"...)
	case 405:
		allow := cn.h.allow
		if cn.route != nil && cn.route.allow != "" {
			allow = cn.route.allow
		}
		cn.out = http1.AppendHeader(cn.out, "Allow", allow)
	case 429, 503:
		cn.out = append(cn.out, "Retry-After: 1\r\n"...)
	}
	cn.out = append(cn.out, "Content-Type: text/plain; charset=utf-8\r\n"...)
	cn.endHead(int64(len(text) + 1))
	if cn.p.Request().Method != http1.MethodHead {
		cn.out = append(cn.out, text...)
		cn.out = append(cn.out, '\n')
		cn.logBytes = int64(len(text) + 1)
	}
	cn.logDone()
}

// sendBody answers with a complete body held in memory.
func (cn *conn) sendBody(status int, ctype string, extra []byte, body []byte) {
	cn.startHead(status)
	cn.out = http1.AppendHeader(cn.out, "Content-Type", ctype)
	cn.out = append(cn.out, extra...)
	cn.endHead(int64(len(body)))
	cn.writeBody(body)
	cn.logDone()
}

// smallBody is the largest body copied into the batch with its head;
// larger ones are handed to the engine as they are.
const smallBody = 16 << 10

func (cn *conn) writeBody(body []byte) {
	if cn.p.Request().Method == http1.MethodHead {
		return
	}
	cn.logBytes += int64(len(body))
	if len(body) <= smallBody {
		cn.out = append(cn.out, body...)
		return
	}
	cn.writeOut()
	if cn.c.Write(body) == nil {
		cn.sq.wroteBytes(len(body))
	}
}

// writeOut hands the batch built so far to the engine.
func (cn *conn) writeOut() {
	if len(cn.out) > 0 {
		if cn.c.Write(cn.out) == nil {
			cn.sq.wroteBytes(len(cn.out))
		}
		cn.out = cn.out[:0]
	}
}

// writeFile sends n bytes of f from off after what is batched. It takes f.
func (cn *conn) writeFile(f *os.File, off, n int64) {
	cn.writeOut()
	cn.logBytes += n
	if cn.c.WriteFile(f, off, n) == nil && n > 0 {
		cn.sq.wroteFile(n)
	}
}

func (cn *conn) logDone() {
	cn.unlogged = false
	if cn.h.alog != nil {
		cn.h.alog.log(cn)
	}
}
