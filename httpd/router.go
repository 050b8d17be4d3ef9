package httpd

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/portside/portside/proto/http1"
	"github.com/portside/portside/server"
)

// HandlerFunc answers one request to a route by writing to w. ctx is
// cancelled when the connection closes or the Handler stops.
type HandlerFunc func(ctx context.Context, w *ResponseWriter, r *Request)

// Request is a request as a route sees it. It and its fields are the
// route's to keep.
type Request struct {
	Method     string
	Path       string // percent-decoded and cleaned, starting with "/"
	RawQuery   string // after '?', as sent
	Proto      string // "HTTP/1.0" or "HTTP/1.1"
	Header     []Field
	Body       []byte // at most Options.MaxBody bytes
	RemoteAddr net.Addr
}

// Field is one header field line.
type Field struct{ Name, Value string }

// Get returns the value of the first field named name, ignoring case, or "".
func (r *Request) Get(name string) string {
	for _, f := range r.Header {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// ResponseWriter collects a route's response; the server sends it, framed
// with Content-Length, when the route returns. The zero status is 200.
type ResponseWriter struct {
	status   int
	hdr      []byte
	body     []byte
	ctype    bool
	takeover Takeover
}

// Takeover is a protocol that takes a connection over from HTTP once a
// route answered 101 Switching Protocols, as a WebSocket does. The engine's
// calls for the connection go to it from then on, with the same contract
// as server.Handler's: Data gets all unread input, including any that came
// behind the upgrade request, and is first called as the response is sent,
// with no input if none came, so that the protocol has its connection from
// the start; Close is called exactly once. If it also
// implements server.Drainer, Drain is called on graceful shutdown (with
// reading paused, as server.Drainer says); else the connection is closed.
// If it implements server.TimerHandler or server.DrainedHandler, the
// connection's Timer and Drained calls are its: it may use the
// connection's timer and ask for Drained.
type Takeover interface {
	Data(c server.Conn, in []byte) (int, error)
	Close(c server.Conn, err error)
}

// Upgrade hands the connection to t once the response is sent. The route
// must set status 101 and the Upgrade field; the server adds
// "Connection: Upgrade". A request that asked to close the connection, or
// one answered while the server drains, gets 400 instead. Only routes
// registered with Handle may upgrade.
func (w *ResponseWriter) Upgrade(t Takeover) { w.takeover = t }

// Header adds a response field. Names and values with CR, LF or NUL are
// dropped, as are fields the server frames itself (Content-Length,
// Transfer-Encoding, Connection).
func (w *ResponseWriter) Header(name, value string) {
	if name == "" || strings.ContainsAny(name, "\r\n\x00: ") || strings.ContainsAny(value, "\r\n\x00") {
		return
	}
	switch strings.ToLower(name) {
	case "content-length", "transfer-encoding", "connection":
		return
	case "content-type":
		w.ctype = true
	}
	w.hdr = http1.AppendHeader(w.hdr, name, value)
}

// WriteHeader sets the status; the last call wins.
func (w *ResponseWriter) WriteHeader(status int) { w.status = status }

// Write appends to the body.
func (w *ResponseWriter) Write(p []byte) (int, error) {
	w.body = append(w.body, p...)
	return len(p), nil
}

// Router matches requests to routes by method and path. A pattern ending
// in "/" matches every path under it; any other matches itself only. The
// longest matching pattern wins. Register routes before serving.
type Router struct {
	routes []*route
}

type route struct {
	method   string
	pattern  string
	prefix   bool
	blocking bool
	fn       HandlerFunc
	allow    string // for a 405
}

// Handle routes method (empty for any) and pattern to fn, which runs on the
// engine's goroutine and must not block.
func (rt *Router) Handle(method, pattern string, fn HandlerFunc) {
	rt.add(method, pattern, fn, false)
}

// HandleBlocking routes method and pattern to fn, which runs on its own
// goroutine and may block; requests pipelined behind it wait for it.
func (rt *Router) HandleBlocking(method, pattern string, fn HandlerFunc) {
	rt.add(method, pattern, fn, true)
}

func (rt *Router) add(method, pattern string, fn HandlerFunc, blocking bool) {
	if !strings.HasPrefix(pattern, "/") {
		panic(fmt.Sprintf("httpd: route pattern %q does not start with /", pattern))
	}
	rt.routes = append(rt.routes, &route{
		method: method, pattern: pattern, prefix: strings.HasSuffix(pattern, "/"),
		blocking: blocking, fn: fn,
	})
}

// match returns the route for method and a cleaned path. With none but a
// path that other methods match, it returns the methods allowed.
func (rt *Router) match(method string, p []byte) (*route, string) {
	var best *route
	var allow []string
	bestLen := -1
	for _, r := range rt.routes {
		if !r.matches(p) {
			continue
		}
		if r.method != "" && r.method != method {
			allow = append(allow, r.method)
			continue
		}
		if len(r.pattern) > bestLen {
			best, bestLen = r, len(r.pattern)
		}
	}
	if best != nil {
		return best, ""
	}
	return nil, strings.Join(allow, ", ")
}

func (r *route) matches(p []byte) bool {
	if r.prefix {
		return len(p) >= len(r.pattern) && string(p[:len(r.pattern)]) == r.pattern
	}
	return string(p) == r.pattern
}

// callRoute runs the route for a complete request: here, or on its own
// goroutine if it may block.
func (cn *conn) callRoute(r *http1.Request) {
	rt := cn.route
	req := &Request{
		Method:     r.Method,
		Path:       string(cn.path),
		RawQuery:   string(r.Query),
		Proto:      r.Proto,
		Body:       append([]byte(nil), cn.body...),
		RemoteAddr: cn.c.RemoteAddr(),
	}
	for name, v := range r.Header.All() {
		req.Header = append(req.Header, Field{string(name), string(v)})
	}
	head := r.Method == http1.MethodHead
	if !rt.blocking {
		w := &ResponseWriter{}
		cn.run(rt, cn.h.ctx, w, req)
		cn.sendRoute(w, head)
		return
	}
	if cn.ctx == nil {
		cn.ctx, cn.cancel = context.WithCancel(cn.h.ctx)
	}
	// The parser is not called again until the route is done, so the
	// request it holds stays valid for the access log.
	cn.async = true
	cn.setPhase(phaseBusy)
	ctx := cn.ctx
	go func() {
		w := &ResponseWriter{}
		cn.run(rt, ctx, w, req)
		w.takeover = nil // only routes on the engine's goroutine may upgrade
		cn.mu.Lock()
		defer cn.mu.Unlock()
		cn.async = false
		cn.setPhase(phaseIdle)
		if cn.closed {
			return
		}
		cn.tick()
		cn.sendRoute(w, head)
		if cn.closeAfter {
			cn.closing = true
		}
		cn.goOn() // the requests that arrived meanwhile, in order
	}()
}

// run calls the route, turning a panic into a 500.
func (cn *conn) run(rt *route, ctx context.Context, w *ResponseWriter, req *Request) {
	defer func() {
		if v := recover(); v != nil {
			cn.h.log.error("route panicked", "pattern", rt.pattern, "path", req.Path, "panic", v)
			*w = ResponseWriter{status: 500, body: []byte("Internal Server Error\n")}
		}
	}()
	rt.fn(ctx, w, req)
}

// sendRoute sends a route's response.
func (cn *conn) sendRoute(w *ResponseWriter, head bool) {
	status := w.status
	if status == 0 {
		status = 200
	}
	if status > 999 {
		cn.h.log.error("route answered an invalid status", "path", string(cn.path), "status", status)
		status = 500
	}
	if w.takeover != nil && status == 101 {
		if !cn.closeAfter && !cn.draining {
			cn.startHead(101)
			cn.out = append(cn.out, w.hdr...)
			cn.out = append(cn.out, "Connection: Upgrade\r\n\r\n"...)
			cn.taken = w.takeover
			if cn.timerAt != 0 {
				// The timer is the new protocol's from now on.
				cn.timerAt = 0
				cn.c.SetTimer(0)
			}
			cn.logDone()
			return
		}
		*w = ResponseWriter{status: 400, body: []byte("cannot upgrade a connection that is closing\n")}
		status = 400
	} else if status < 200 {
		cn.h.log.error("route answered an interim status", "path", string(cn.path), "status", status)
		status = 500
	}
	cn.startHead(status)
	if !w.ctype && len(w.body) > 0 {
		cn.out = append(cn.out, "Content-Type: text/plain; charset=utf-8\r\n"...)
	}
	cn.out = append(cn.out, w.hdr...)
	if status == 204 || status == 304 {
		cn.endHead(-1)
	} else {
		cn.endHead(int64(len(w.body)))
		if !head {
			cn.out = append(cn.out, w.body...)
			cn.logBytes = int64(len(w.body))
		}
	}
	cn.logDone()
}
