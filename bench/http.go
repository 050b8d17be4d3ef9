package bench

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
)

// httpPlan is the requests of a run, built once: every path's request
// back to back, the rotation repeated far enough that any depth consecutive
// requests are one contiguous slice, written with one call.
type httpPlan struct {
	buf    []byte
	off    []int
	paths  []string
	head   bool
	expect []atomic.Int64 // body length per path; -1 until learnt
	status int
}

func newHTTPPlan(cfg *Config, t Target) *httpPlan {
	u, _ := parseURL(t.Addr)
	h := cfg.HTTP
	paths := h.Paths
	if len(paths) == 0 {
		paths = []string{u.RequestURI()}
	}
	p := &httpPlan{paths: paths, head: h.Method == "HEAD", status: h.Status}
	p.expect = make([]atomic.Int64, len(paths))
	for i := range p.expect {
		p.expect[i].Store(h.Length)
		if h.Length < 0 {
			p.expect[i].Store(-1)
		}
	}
	host := strings.TrimSuffix(u.Host, ":80")
	reqs := make([][]byte, len(paths))
	for i, path := range paths {
		var b bytes.Buffer
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", h.Method, path, host)
		for _, l := range h.Headers {
			b.WriteString(l + "\r\n")
		}
		switch h.Method {
		case "POST", "PUT", "PATCH":
			fmt.Fprintf(&b, "Content-Length: %d\r\n", len(h.Body))
		default:
			if len(h.Body) > 0 {
				fmt.Fprintf(&b, "Content-Length: %d\r\n", len(h.Body))
			}
		}
		if h.NoKeepAlive {
			b.WriteString("Connection: close\r\n")
		}
		b.WriteString("\r\n")
		b.Write(h.Body)
		reqs[i] = b.Bytes()
	}
	p.off = []int{0}
	for i := range len(paths) + cfg.Pipeline {
		p.buf = append(p.buf, reqs[i%len(paths)]...)
		p.off = append(p.off, len(p.buf))
	}
	return p
}

func (p *httpPlan) session(w *worker) session {
	start := w.id % len(p.paths)
	return &httpSession{p: p, w: w, start: start}
}

type httpSession struct {
	p     *httpPlan
	w     *worker
	start int
	next  int // rotation index of the next request (writer's)
	resp  int // rotation index of the next reply (reader's)
	ps    parser
}

func (s *httpSession) reset() {
	s.next, s.resp = s.start, s.start
	s.ps.reset()
	s.ps.head = s.p.head
}

func (s *httpSession) bufSize() int { return 32 << 10 }

func (s *httpSession) send(c net.Conn, k int) error {
	b := s.p.buf[s.p.off[s.next]:s.p.off[s.next+k]]
	s.next = (s.next + k) % len(s.p.paths)
	_, err := c.Write(b)
	return err
}

func (s *httpSession) feed(b []byte) kind {
	for len(b) > 0 {
		if s.w.owed() == 0 {
			return kindProtocol // a reply nobody asked for
		}
		n, done, err := s.ps.feed(b)
		if err != nil {
			return kindProtocol
		}
		b = b[n:]
		if done {
			if again := s.reply(); again {
				return kindAgain
			}
		}
	}
	return kindOK
}

// reply checks the response the parser just finished; it reports whether
// the server will close the connection after it.
func (s *httpSession) reply() bool {
	ps := &s.ps
	k := kindOK
	if ps.status != s.p.status {
		k = kindStatus
	} else {
		exp := &s.p.expect[s.resp]
		want := exp.Load()
		if want < 0 {
			// The first reply to this path sets what the others must
			// match; another connection's first may set it first.
			exp.CompareAndSwap(-1, ps.length)
			want = exp.Load()
		}
		if ps.length != want {
			k = kindLength
		}
	}
	s.resp = (s.resp + 1) % len(s.p.paths)
	closing := ps.close
	ps.reset()
	ps.head = s.p.head
	s.w.onReply(k)
	return closing
}

func (s *httpSession) eof() bool {
	if s.ps.state == stEOF && s.w.owed() > 0 {
		s.reply()
		return true
	}
	return false
}

// The parser: just enough HTTP/1.1 to find where each response ends (status
// line, Content-Length, chunked encoding, Connection) without copying
// bodies or allocating per response.

const (
	stHead = iota
	stBody
	stChunkSize
	stChunkData
	stChunkEnd
	stTrailer
	stEOF
)

const maxHead = 64 << 10

var (
	errHead    = errors.New("bench: malformed response head")
	errTooLong = errors.New("bench: response head too large")
	errChunk   = errors.New("bench: malformed chunk")
)

type parser struct {
	state  int
	head   bool   // the request was HEAD: no body
	hdr    []byte // a head split over reads
	line   []byte // a chunk line split over reads
	remain int64
	status int
	length int64 // body bytes seen
	close  bool
}

func (p *parser) reset() {
	p.state, p.remain, p.status, p.length, p.close = stHead, 0, 0, 0, false
	p.hdr, p.line = p.hdr[:0], p.line[:0]
}

// feed consumes b up to the end of one response at most. It returns the
// bytes used and whether a response ended.
func (p *parser) feed(b []byte) (int, bool, error) {
	used := 0
	for len(b) > 0 {
		switch p.state {
		case stHead:
			var block []byte
			if len(p.hdr) == 0 {
				i := bytes.Index(b, crlfcrlf)
				if i < 0 {
					p.hdr = append(p.hdr, b...)
					return used + len(b), false, p.checkLen()
				}
				block, b, used = b[:i+4], b[i+4:], used+i+4
			} else {
				from := max(0, len(p.hdr)-3)
				had := len(p.hdr)
				p.hdr = append(p.hdr, b...)
				i := bytes.Index(p.hdr[from:], crlfcrlf)
				if i < 0 {
					return used + len(b), false, p.checkLen()
				}
				end := from + i + 4
				n := end - had
				block, b, used = p.hdr[:end], b[n:], used+n
			}
			err := p.parseHead(block)
			p.hdr = p.hdr[:0]
			if err != nil {
				return used, false, err
			}
			if p.status < 200 {
				continue // 100 Continue and the like: the real one follows
			}
			if p.state == stHead {
				return used, true, nil
			}
		case stBody, stChunkData:
			m := int(min(p.remain, int64(len(b))))
			p.remain -= int64(m)
			p.length += int64(m)
			b, used = b[m:], used+m
			if p.remain == 0 {
				if p.state == stBody {
					return used, true, nil
				}
				p.state = stChunkEnd
			}
		case stChunkSize, stChunkEnd, stTrailer:
			l, n, ok := p.readLine(b)
			b, used = b[n:], used+n
			if !ok {
				if len(p.line) > 4096 {
					return used, false, errChunk
				}
				continue
			}
			switch p.state {
			case stChunkEnd:
				if len(l) != 0 {
					return used, false, errChunk
				}
				p.state = stChunkSize
			case stTrailer:
				if len(l) == 0 {
					p.line = p.line[:0]
					return used, true, nil
				}
			case stChunkSize:
				if i := bytes.IndexByte(l, ';'); i >= 0 {
					l = l[:i]
				}
				size, err := strconv.ParseInt(string(bytes.TrimSpace(l)), 16, 64)
				if err != nil || size < 0 {
					return used, false, errChunk
				}
				if size == 0 {
					p.state = stTrailer
				} else {
					p.state, p.remain = stChunkData, size
				}
			}
			p.line = p.line[:0]
		case stEOF:
			p.length += int64(len(b))
			return used + len(b), false, nil
		}
	}
	return used, false, nil
}

var crlfcrlf = []byte("\r\n\r\n")

func (p *parser) checkLen() error {
	if len(p.hdr) > maxHead {
		return errTooLong
	}
	return nil
}

// readLine returns a line without its CRLF once one is complete, joining
// pieces split over reads in p.line, and how much of b it used.
func (p *parser) readLine(b []byte) ([]byte, int, bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		p.line = append(p.line, b...)
		return nil, len(b), false
	}
	l := b[:i]
	if len(p.line) > 0 {
		p.line = append(p.line, l...)
		l = p.line
	}
	return bytes.TrimSuffix(l, []byte("\r")), i + 1, true
}

func (p *parser) parseHead(block []byte) error {
	eol := bytes.IndexByte(block, '\n')
	status := bytes.TrimSuffix(block[:eol], []byte("\r"))
	if len(status) < 12 || !bytes.HasPrefix(status, []byte("HTTP/1.")) || status[12-4] != ' ' {
		return errHead
	}
	code := 0
	for _, c := range status[9:12] {
		if c < '0' || c > '9' {
			return errHead
		}
		code = code*10 + int(c-'0')
	}
	p.status = code
	http10 := status[7] == '0'
	keepAlive := false
	length := int64(-1)
	chunked := false
	rest := block[eol+1:]
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		l := bytes.TrimSuffix(rest[:i], []byte("\r"))
		rest = rest[i+1:]
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 {
			continue
		}
		name, val := l[:colon], bytes.TrimSpace(l[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(val), 10, 64)
			if err != nil || n < 0 {
				return errHead
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = containsFold(val, "chunked")
		case bytes.EqualFold(name, []byte("Connection")):
			if containsFold(val, "close") {
				p.close = true
			}
			if containsFold(val, "keep-alive") {
				keepAlive = true
			}
		}
	}
	if http10 && !keepAlive {
		p.close = true
	}
	switch {
	case code < 200:
		p.state = stHead
	case p.head || code == 204 || code == 304:
		p.state = stHead
	case chunked:
		p.state = stChunkSize
	case length >= 0:
		p.state, p.remain = stBody, length
		if length == 0 {
			p.state = stHead
		}
	default:
		p.state, p.close = stEOF, true
	}
	return nil
}

// containsFold reports whether b holds s (lower case ASCII), ignoring case,
// without allocating.
func containsFold(b []byte, s string) bool {
outer:
	for i := 0; i+len(s) <= len(b); i++ {
		for j := range len(s) {
			c := b[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != s[j] {
				continue outer
			}
		}
		return true
	}
	return false
}
