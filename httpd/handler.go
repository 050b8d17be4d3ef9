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
// TimerHandler, DrainedHandler, EOFHandler, Drainer and Refuser abilities.
// Create it with New; call Stop once the engine's Serve has returned.
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

	stopOnce sync.Once
}

var (
	_ server.Handler        = (*Handler)(nil)
	_ server.TimerHandler   = (*Handler)(nil)
	_ server.DrainedHandler = (*Handler)(nil)
	_ server.EOFHandler     = (*Handler)(nil)
	_ server.Drainer        = (*Handler)(nil)
	_ server.Refuser        = (*Handler)(nil)
)

// New returns a Handler for o. It opens o.Root, if set.
func New(o Options) (*Handler, error) {
	o = o.withDefaults()
	h := &Handler{o: o, routes: o.Routes}
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
		// Every body is bounded here (onBody): uploads by MaxUpload, so
		// that their 413 can say what the limit is, which the parser's
		// would not.
		h.plimits.MaxBody = 1 << 62
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h, nil
}

// Stop ends the handler's background work, flushes the access log, removes
// compressed copies and closes the root. Blocking routes still running see
// their context cancelled.
func (h *Handler) Stop() error {
	h.stopOnce.Do(func() {
		h.cancel()
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

// Request phases, for the timeouts (see timeouts.go).
const (
	phaseIdle = iota // between requests
	phaseHead        // part of a head has arrived
	phaseBody        // reading a body
	phaseBusy        // a blocking route runs
)

// conn is one connection's state. mu is held by whichever goroutine
// processes its input or acts on it: the engine's, in its callbacks, or a
// blocking route's, which goes on with the request after it.
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
	reply      problem // what an actReply answers
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

	closing  bool      // answer nothing more; close once flushed
	async    bool      // a blocking route runs, or an answer is put off (later)
	stalled  bool      // waits for queued output to be sent (Drained)
	paused   bool      // reading paused (PauseRead), by httpd or for the drain
	sq       sendQueue // what was handed to the engine
	taken    Takeover  // the protocol the connection was upgraded to
	eofRest  []byte    // input left when the peer shut its side while async or stalled: after ReadEOF the engine hands nothing again, so it is kept here
	draining bool
	eof      bool
	closed   bool
	ctx      context.Context
	cancel   context.CancelFunc

	// The timer's (timeouts.go); unix nanoseconds of Options.Now.
	phase    int32
	since    int64     // the phase began
	bodyN    int64     // body bytes of the request being read
	rateAt   int64     // the body rate's window began
	rateMark int64     // bodyN then
	drainAt  int64     // a request partly read at shutdown is answered 503
	timerAt  int64     // the timer is armed for then; 0 if not armed
	laterAt  time.Time // what later put off is due, by the real clock
}

// Open implements server.Handler.
func (h *Handler) Open(c server.Conn) {
	cn := &conn{h: h, c: c}
	cn.p.Limits = h.plimits
	cn.ranges = make([]http1.ByteRange, 0, h.o.MaxRanges)
	c.SetValue(cn)
}

// Close implements server.Handler.
func (h *Handler) Close(c server.Conn, err error) {
	cn, ok := c.Value().(*conn)
	if !ok {
		return
	}
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

// Data implements server.Handler. Input that must wait (requests pipelined
// behind a blocking route, an answer put off, or output stalled) is left
// unconsumed and reading paused: the engine keeps it, bounded by its
// Limits.MaxInput, and hands it again once reading resumes.
func (h *Handler) Data(c server.Conn, in []byte) (int, error) {
	cn := c.Value().(*conn)
	cn.mu.Lock()
	if t := cn.taken; t != nil {
		// What the upgraded protocol leaves unconsumed the engine keeps,
		// bounded by Limits.MaxInput, as for any handler: since httpd
		// itself no longer claims to consume all input, it needs no
		// buffer of its own for it.
		cn.mu.Unlock()
		return t.Data(c, in)
	}
	if cn.async || cn.stalled {
		// A Data call on its way as reading paused.
		defer cn.mu.Unlock()
		if cn.dropInput {
			return len(in), nil // a body refused, by an answer still to come
		}
		cn.pause()
		return 0, nil
	}
	cn.tick()
	n := cn.process(in)
	cn.flush()
	cn.armTimer()
	t := cn.taken
	cn.mu.Unlock()
	if t != nil {
		// Input that came behind the upgrade request is the new
		// protocol's. It gets its connection now even if there is none,
		// so that it can close a client that never speaks; what it
		// leaves, the engine keeps for it.
		k, err := t.Data(c, in[n:])
		return n + k, err
	}
	return n, nil
}

// pause stops reading the connection; resume undoes it.
func (cn *conn) pause() {
	if !cn.paused {
		cn.paused = true
		cn.c.PauseRead()
	}
}

func (cn *conn) resume() {
	if cn.paused {
		cn.paused = false
		cn.c.ResumeRead()
	}
}

// ReadEOF implements server.EOFHandler: a client that shut its write side
// still gets the responses it asked for.
func (h *Handler) ReadEOF(c server.Conn, rest []byte) {
	cn := c.Value().(*conn)
	cn.mu.Lock()
	defer cn.mu.Unlock()
	cn.eof = true
	if (cn.async || cn.stalled) && cn.taken == nil {
		// The engine hands nothing more: what it kept waits here.
		cn.eofRest = append(cn.eofRest[:0], rest...)
		return
	}
	c.Close()
}

// Drained implements server.DrainedHandler: a connection stalled behind
// its queued output goes on with its requests.
func (h *Handler) Drained(c server.Conn) {
	cn := c.Value().(*conn)
	cn.mu.Lock()
	if t := cn.taken; t != nil {
		cn.mu.Unlock()
		if d, ok := t.(server.DrainedHandler); ok {
			d.Drained(c)
		}
		return
	}
	defer cn.mu.Unlock()
	if cn.closed || !cn.stalled {
		return
	}
	cn.unstall()
}

// stall makes the connection wait until its queue is no longer full: its
// input waits, and Drained comes at the queue's mark.
func (cn *conn) stall() {
	cn.stalled = true
	cn.c.NotifyDrained(cn.sq.mark())
}

// unstall goes on with a stalled connection. Drained came at the queue's
// mark and nothing is written while stalled, so the queue is no longer
// full; should it be, it waits again, for the mark as it is now.
func (cn *conn) unstall() {
	if cn.queueFull() {
		cn.stall()
		return
	}
	cn.stalled = false
	cn.tick()
	cn.goOn()
}

// Drain implements server.Drainer: a response in progress is finished,
// then the connection closes; an idle keep-alive connection closes now. A
// request partly read is read to its end (the engine reads on once Drain
// resumes reading) and answered with Connection: close, unless it is not
// complete at drainAnswer before the engine's drain timeout: it is then
// answered 503, and the client may send it again to another server or
// once this one is back.
func (h *Handler) Drain(c server.Conn) {
	cn := c.Value().(*conn)
	cn.mu.Lock()
	defer cn.mu.Unlock()
	cn.draining = true
	cn.paused = true // the engine pauses reading for the drain
	if cn.taken != nil {
		if d, ok := cn.taken.(server.Drainer); ok {
			cn.mu.Unlock()
			d.Drain(c)
			cn.mu.Lock()
		} else {
			c.Close()
		}
		return
	}
	cn.tick()
	cn.drainAt = cn.nowNs + int64(h.o.drainAnswer())
	if cn.async {
		switch {
		case cn.held:
			// Waiting for its turn to have its credentials judged:
			// not worth waiting for now.
			cn.endLater()
			cn.cutShort()
			cn.flush()
		case cn.laterFn != nil:
			// An answer put off: it is decided, so it goes now.
			cn.runLater()
		}
		return // else goOn finishes it, then closes
	}
	if cn.partial() && !cn.closing && !cn.stalled {
		cn.closeAfter = true
		cn.resume()
		cn.armTimer()
		return
	}
	cn.closing = true
	cn.flush()
}

// cutShort answers a request partly read that will not be complete in
// time, on shutdown: 503, and the connection closes.
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
	if cn.phase != p {
		cn.phase, cn.since = p, cn.nowNs
		if p == phaseBody {
			cn.rateAt, cn.rateMark = cn.nowNs, cn.bodyN
		}
	}
}

// process runs the parser over input until it is used up, the connection
// is closing or upgraded, or a blocking route starts or too much output is
// queued. It returns the bytes consumed: what must wait is left, and
// reading paused.
func (cn *conn) process(in []byte) int {
	total := len(in)
	// Not just while there is input: End follows a body-less head with
	// no more input needed.
	for !cn.closing && !cn.async && !cn.stalled && cn.taken == nil {
		if len(in) > 0 && cn.phase == phaseIdle && cn.queueFull() {
			// A new request, with files or much output still queued:
			// it waits for them to go (see sendQueue).
			cn.stall()
			break
		}
		n, ev, err := cn.p.Next(in)
		in = in[n:]
		if err != nil {
			cn.parseError(err)
			return total
		}
		switch ev {
		case http1.Head:
			cn.bodyN = 0
			cn.setPhase(phaseBody)
			cn.onHead()
		case http1.Body:
			b := cn.p.Body()
			cn.bodyN += int64(len(b))
			cn.onBody(b)
		case http1.End:
			cn.setPhase(phaseIdle)
			cn.onEnd()
		case http1.NeedMore:
			if n > 0 && cn.phase == phaseIdle {
				cn.setPhase(phaseHead)
			}
			return total
		}
	}
	switch {
	case cn.closing, cn.async && cn.dropInput:
		return total // unwanted
	case len(in) > 0 && (cn.async || cn.stalled):
		cn.pause()
	}
	return total - len(in)
}

// later runs fn after d, on the connection's timer, holding the
// connection's input back meanwhile as a blocking route does: the engine's
// goroutine never waits, and requests pipelined behind wait unread, so
// answers stay in order.
func (cn *conn) later(d time.Duration, fn func()) {
	cn.async = true
	cn.setPhase(phaseBusy)
	cn.laterFn = fn
	cn.laterAt = time.Now().Add(d)
	// armTimer arms it at the end of the callback.
}

// runLater runs what later put off, unless that is done already (on
// shutdown, Drain does not wait).
func (cn *conn) runLater() {
	if cn.laterFn == nil {
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

// goOn goes on with the connection once a blocking route, an answer put
// off or a stall is done: with the request under way (its End may need no
// more input), then by resuming reading, so that the engine hands the input
// it kept meanwhile.
func (cn *conn) goOn() {
	if cn.async {
		return // put off again
	}
	if cn.phase == phaseBusy {
		cn.setPhase(phaseIdle)
	}
	// On shutdown the connection closes after the response in flight;
	// but a request partly read is read to its end.
	if !cn.closing && (!cn.draining || cn.partial()) {
		k := cn.process(cn.eofRest)
		cn.eofRest = cn.eofRest[k:]
		switch {
		case cn.taken != nil:
			cn.flush()
			cn.resume()
			if _, err := cn.taken.Data(cn.c, nil); err != nil {
				cn.c.Close()
			}
		case !cn.async && !cn.stalled && !cn.closing && !cn.eof && (!cn.draining || cn.partial()):
			cn.resume()
		}
	}
	cn.settle()
	cn.armTimer()
}

// partial reports whether a request has been partly read.
func (cn *conn) partial() bool {
	return cn.phase == phaseHead || cn.phase == phaseBody
}

// settle flushes a batch of answers. Once no more input will come (the
// client shut its side, or the server drains and no request is under way)
// and nothing is pending, the connection closes.
func (cn *conn) settle() {
	if !cn.async && !cn.stalled && !cn.closing && cn.taken == nil {
		switch {
		case cn.eof:
			if cn.draining && cn.partial() {
				cn.cutShort()
			}
			cn.closing = true
		case cn.draining && !cn.partial():
			cn.closing = true
		}
	}
	cn.flush()
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
	cn.act, cn.reply, cn.route, cn.user = actStatic, problem{}, nil, ""
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
			cn.refuse(probUploadsOff())
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
func (cn *conn) reject(status int) { cn.refuse(problem{Status: status}) }

// refuse is reject with a problem that says what went wrong.
func (cn *conn) refuse(p problem) {
	r := cn.p.Request()
	if r.ContentLength != 0 && (r.Expect100() || r.Chunked || r.ContentLength > discardMax) {
		cn.replyNowProblem(p)
		return
	}
	cn.act, cn.reply = actReply, p
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
	cn.act, cn.reply, cn.replyDelay = actReply, problem{Status: status}, d
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
func (cn *conn) replyNow(status int) { cn.replyNowProblem(problem{Status: status}) }

func (cn *conn) replyNowProblem(p problem) {
	cn.closeAfter = true
	cn.sendProblem(p)
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
			if err := cn.up.write(b); err != nil {
				cn.uploadFailed(err)
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
			p := cn.reply
			cn.later(d, func() {
				cn.sendProblem(p)
				if cn.closeAfter {
					cn.closing = true
				}
			})
			return
		}
		cn.sendProblem(cn.reply)
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

// sendError answers status with its reason phrase (see sendProblem),
// keeping the connection unless it is closing.
func (cn *conn) sendError(status int) { cn.sendProblem(problem{Status: status}) }

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
