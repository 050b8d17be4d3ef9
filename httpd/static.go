package httpd

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portside/portside/proto/http1"
)

// serveStatic answers GET, HEAD and OPTIONS for files.
func (cn *conn) serveStatic(r *http1.Request) {
	if r.Method == http1.MethodOptions {
		cn.options()
		return
	}
	if cn.pathSt == pathHidden {
		cn.sendError(404)
		return
	}
	rel := relPath(cn.path)
	e, err := cn.h.files.lookup(rel, cn.nowNs)
	if err != nil {
		if cn.h.o.SPA && isNotExist(err) && cn.wantsPage() {
			if e, err := cn.h.files.lookup([]byte("index.html"), cn.nowNs); err == nil && !e.dir {
				cn.serveEntry(r, e)
				return
			}
		}
		cn.sendError(cn.errorStatus(err))
		return
	}
	slash := cn.path[len(cn.path)-1] == '/'
	if !e.dir {
		if slash {
			cn.sendError(404) // a file named as a directory
			return
		}
		cn.serveEntry(r, e)
		return
	}
	if !slash {
		cn.redirectSlash(r)
		return
	}
	// index.html, looked up in the path buffer so a hit allocates nothing.
	n := len(cn.pbuf)
	cn.pbuf = append(cn.pbuf, "index.html"...)
	idx, err := cn.h.files.lookup(relPath(cn.pbuf), cn.nowNs)
	cn.pbuf = cn.pbuf[:n]
	cn.path = cn.pbuf
	if err == nil && !idx.dir {
		cn.serveEntry(r, idx)
		return
	}
	if cn.h.o.NoListing {
		cn.sendError(404)
		return
	}
	cn.serveListing(r, e)
}

// wantsPage reports whether a request for a missing file is a browser
// navigating, for SPA mode: its last segment has no extension, or it asks
// for HTML.
func (cn *conn) wantsPage() bool {
	p := cn.path
	last := p[bytes.LastIndexByte(p, '/')+1:]
	return bytes.IndexByte(last, '.') < 0 || bytes.Contains(cn.hd.accept, []byte("text/html"))
}

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// errorStatus is fileErrorStatus for the request being answered: a
// failure of the server's own (500, such as running out of descriptors) is
// logged with its cause, since the client is told nothing about it.
func (cn *conn) errorStatus(err error) int {
	status := fileErrorStatus(err)
	if status >= 500 {
		cn.h.log.error("file system", "path", string(cn.path), "status", status, "err", err)
	}
	return status
}

// fileErrorStatus maps a file system error to a status. A symbolic link
// out of the root is 403: the file may exist, but it is not the server's
// to give.
func fileErrorStatus(err error) int {
	switch {
	case isNotExist(err):
		return 404
	case errors.Is(err, fs.ErrPermission), errors.Is(err, errNotRegular),
		strings.Contains(err.Error(), "path escapes"), errors.Is(err, syscall.ELOOP):
		return 403
	case errors.Is(err, syscall.ENAMETOOLONG):
		return 414
	}
	return 500
}

// redirectSlash sends a directory named without its trailing slash to the
// name with it, so relative links in its page resolve inside it.
func (cn *conn) redirectSlash(r *http1.Request) {
	cn.startHead(301)
	cn.appendLocation("/")
	if r.Query != nil {
		cn.out = append(cn.out, '?')
		cn.out = append(cn.out, r.Query...)
	}
	cn.out = append(cn.out, "\r\nContent-Type: text/plain; charset=utf-8\r\n"...)
	const msg = "Moved Permanently\n"
	cn.endHead(int64(len(msg)))
	cn.writeBody([]byte(msg))
	cn.logDone()
}

// options answers OPTIONS: a CORS preflight, or the methods allowed.
func (cn *conn) options() {
	h := cn.h
	cn.startHead(204)
	if h.o.CORS && cn.hd.origin != nil && cn.hd.acrMethod != nil {
		cn.out = http1.AppendHeader(cn.out, "Access-Control-Allow-Methods", h.allow)
		if v := cn.hd.acrHeaders; len(v) > 0 && isTokenList(v) {
			cn.out = http1.AppendHeaderBytes(cn.out, "Access-Control-Allow-Headers", v)
		}
		cn.out = append(cn.out, "Access-Control-Max-Age: 86400\r\n"...)
	} else {
		cn.out = http1.AppendHeader(cn.out, "Allow", h.allow)
	}
	cn.endHead(-1)
	cn.logDone()
}

func isTokenList(v []byte) bool {
	for _, c := range v {
		if !(c == ',' || c == ' ' || c == '-' || c == '_' || c == '.' ||
			'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// condition is the outcome of the preconditions.
type condition uint8

const (
	condNone        condition = iota // serve normally
	condNotModified                  // 304
	condFailed                       // 412
)

// preconditions evaluates the conditional fields in the order of RFC 9110
// §13.2.2. If-Range is evaluated later, with Range.
func (cn *conn) preconditions(r *http1.Request, e *entry) condition {
	hd := &cn.hd
	getHead := r.Method == http1.MethodGet || r.Method == http1.MethodHead
	// 1-2: If-Match (strong comparison, which a weak tag never passes,
	// §13.1.1), else If-Unmodified-Since.
	if hd.ifMatch != nil {
		if !strongMatch(hd.ifMatch, e.etag) {
			return condFailed
		}
	} else if hd.ifUnmodSince != nil {
		if t, ok := http1.ParseHTTPDate(hd.ifUnmodSince); ok && e.mtime.Truncate(time.Second).After(t) {
			return condFailed
		}
	}
	// 3-4: If-None-Match (weak comparison), else If-Modified-Since, which
	// only GET and HEAD heed.
	if hd.ifNoneMatch != nil {
		if http1.ETagMatch(hd.ifNoneMatch, e.etag) {
			if getHead {
				return condNotModified
			}
			return condFailed
		}
	} else if hd.ifModSince != nil && getHead {
		if t, ok := http1.ParseHTTPDate(hd.ifModSince); ok && !e.mtime.Truncate(time.Second).After(t) {
			return condNotModified
		}
	}
	return condNone
}

// strongMatch is If-Match's comparison: "*" or an identical strong tag.
func strongMatch(v, etag []byte) bool {
	v = trimSpace(v)
	if len(v) == 1 && v[0] == '*' {
		return true
	}
	if bytes.HasPrefix(etag, []byte("W/")) {
		return false
	}
	for _, t := range bytes.Split(v, []byte(",")) {
		if bytes.Equal(trimSpace(t), etag) {
			return true
		}
	}
	return false
}

// ifRangeHolds evaluates If-Range (RFC 9110 §13.1.5): an entity tag must
// match strongly, which the server's weak tags never do, and a date must
// equal Last-Modified, which must itself be strong: at least a second older
// than now.
func (cn *conn) ifRangeHolds(e *entry) bool {
	v := trimSpace(cn.hd.ifRange)
	if len(v) > 0 && (v[0] == '"' || bytes.HasPrefix(v, []byte("W/"))) {
		return strongMatch(v, e.etag)
	}
	t, ok := http1.ParseHTTPDate(v)
	if !ok {
		return false
	}
	m := e.mtime.Truncate(time.Second)
	return m.Equal(t) && cn.now.Sub(e.mtime) >= time.Second
}

// serveEntry answers GET or HEAD for a file.
func (cn *conn) serveEntry(r *http1.Request, e *entry) {
	switch cn.preconditions(r, e) {
	case condNotModified:
		cn.startHead(304)
		cn.out = append(cn.out, e.hdr304...)
		cn.endHead(-1)
		cn.logDone()
		return
	case condFailed:
		cn.sendError(412)
		return
	}
	if cn.hd.rng != nil && r.Method == http1.MethodGet && (cn.hd.ifRange == nil || cn.ifRangeHolds(e)) {
		rs, status := http1.ParseRanges(cn.ranges[:0], cn.hd.rng, e.size, cn.h.o.MaxRanges)
		switch status {
		case 416:
			cn.startHead(416)
			cn.out = http1.AppendContentRangeUnsatisfied(cn.out, e.size)
			cn.out = append(cn.out, e.hdr304...)
			cn.endHead(0)
			cn.logDone()
			return
		case 206:
			if e.body != nil || len(rs) == 1 || framedFileBytes(rs) <= maxFramedFileBytes {
				cn.serveRanges(r, e, rs)
				return
			}
			// Several large ranges: the whole file instead (RFC 9110
			// §14.2 allows it), since each part header is queued after
			// the part before it, and an engine bounds what is queued.
		}
	}
	if cn.hd.acceptEnc != nil && e.size > 0 {
		if v := cn.pickVariant(e); v != nil {
			cn.serveVariant(r, e, v)
			return
		}
	}
	if e.body != nil {
		cn.ok200(r, e.hdr, e.size, e.body, nil)
		return
	}
	f, e, ok := cn.open(e)
	if !ok {
		return
	}
	cn.ok200(r, e.hdr, e.size, nil, f)
}

// ok200 answers 200 with a representation's header lines and its body:
// bytes kept in memory, or else size bytes of f, which it closes.
func (cn *conn) ok200(r *http1.Request, hdr []byte, size int64, body []byte, f *os.File) {
	cn.startHead(200)
	cn.out = append(cn.out, hdr...)
	cn.endHead(size)
	switch {
	case body != nil:
		cn.writeBody(body)
	case r.Method == http1.MethodHead || size == 0:
		f.Close()
	default:
		cn.writeFile(f, 0, size)
	}
	cn.logDone()
}

// open opens a file too large to keep, checking it is still the file the
// entry describes; if not, the entry is refreshed. It answers the request
// itself when it fails.
func (cn *conn) open(e *entry) (*os.File, *entry, bool) {
	if f := e.dup(); f != nil {
		return f, e, true
	}
	for range 2 {
		f, err := cn.h.files.root.Open(e.name)
		if err != nil {
			cn.sendError(cn.errorStatus(err))
			return nil, nil, false
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			f.Close()
			cn.sendError(403)
			return nil, nil, false
		}
		if sameFile(e, fi) {
			return f, e, true
		}
		f.Close()
		e2, err := cn.h.files.revalidate(e, cn.nowNs)
		if err != nil || e2.dir {
			cn.sendError(404)
			return nil, nil, false
		}
		e = e2
	}
	cn.sendError(503) // changing under our feet
	return nil, nil, false
}

// pickVariant chooses the content coding for a full response: the client's
// favourite among the sidecars and, if compression is on, what the server
// can make.
func (cn *conn) pickVariant(e *entry) *variant {
	h := cn.h
	canZip := h.o.Compress && e.zipable && e.size >= h.o.CompressMin && e.size <= maxCompress
	var have uint8
	for c := range numCodings {
		if v := e.enc[c].Load(); v != nil && v.size >= 0 {
			have |= 1 << c
		}
	}
	if have == 0 && !canZip {
		return nil
	}
	ae := parseAcceptEncoding(cn.hd.acceptEnc)
	avail := have
	if canZip {
		avail = 1<<numCodings - 1
	}
	c := ae.best(avail)
	if c < 0 {
		return nil
	}
	if v := h.variantFor(e, c); v != nil {
		return v
	}
	// Being compressed in the background: the best already at hand.
	if c = ae.best(have); c >= 0 {
		return h.variantFor(e, c)
	}
	return nil
}

// serveVariant sends a compressed variant; ranges are not served from it.
func (cn *conn) serveVariant(r *http1.Request, e *entry, v *variant) {
	if v.body != nil {
		cn.ok200(r, v.hdr, v.size, v.body, nil)
		return
	}
	f, err := cn.h.files.openVariant(v)
	if err != nil {
		// The sidecar went away: forget it and send the file itself.
		for c := range numCodings {
			e.enc[c].CompareAndSwap(v, nil)
		}
		cn.hd.acceptEnc = nil
		cn.serveEntry(r, e)
		return
	}
	cn.ok200(r, v.hdr, v.size, nil, f)
}

// serveRanges answers 206 with one range, or several as
// multipart/byteranges (RFC 9110 §14.6).
func (cn *conn) serveRanges(r *http1.Request, e *entry, rs []http1.ByteRange) {
	var f *os.File
	if e.body == nil {
		var ok bool
		if f, e, ok = cn.open(e); !ok {
			return
		}
		// The entry may have been refreshed: the ranges must still fit.
		for _, rg := range rs {
			if rg.Start+rg.Length > e.size {
				f.Close()
				cn.sendError(503)
				return
			}
		}
	}
	cn.startHead(206)
	if len(rs) == 1 {
		rg := rs[0]
		cn.out = append(cn.out, e.hdr...)
		cn.out = http1.AppendContentRange(cn.out, rg.Start, rg.Length, e.size)
		cn.endHead(rg.Length)
		if e.body != nil {
			cn.writeBody(e.body[rg.Start : rg.Start+rg.Length])
		} else {
			cn.writeFile(f, rg.Start, rg.Length)
		}
		cn.logDone()
		return
	}
	b := cn.h.boundary
	cn.out = append(cn.out, "Content-Type: multipart/byteranges; boundary="...)
	cn.out = append(cn.out, b...)
	cn.out = append(cn.out, "\r\n"...)
	cn.out = http1.AppendHeaderBytes(cn.out, "Last-Modified", e.lastMod)
	cn.out = append(cn.out, e.hdr304...)
	total := http1.RangesLength(b, e.typ, rs, e.size)
	cn.endHead(total)
	for i, rg := range rs {
		cn.out = http1.AppendRangePart(cn.out, b, e.typ, rg, e.size)
		if e.body != nil {
			cn.out = append(cn.out, e.body[rg.Start:rg.Start+rg.Length]...)
			continue
		}
		pf := f
		if i < len(rs)-1 {
			var err error
			if pf, err = dupFile(f); err != nil {
				f.Close()
				cn.closing = true // the body is cut short: the client must see it
				return
			}
		}
		cn.writeFile(pf, rg.Start, rg.Length)
	}
	cn.out = http1.AppendRangesEnd(cn.out, b)
	cn.logBytes = total
	cn.logDone()
}

// dupFile returns a second descriptor of f, for another range: the engine
// closes each file it is given.
func dupFile(f *os.File) (*os.File, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	var derr error
	if err := sc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	return os.NewFile(uintptr(nfd), f.Name()), nil
}

// maxFramedFileBytes bounds the bytes of file ranges followed by another
// part in one multipart/byteranges response.
const maxFramedFileBytes = 1 << 20

func framedFileBytes(rs []http1.ByteRange) int64 {
	var n int64
	for _, r := range rs[:len(rs)-1] {
		n += r.Length
	}
	return n
}
