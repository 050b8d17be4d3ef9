package http1

import (
	"bytes"
	"encoding/binary"
)

// Limits bound what one request may cost. A zero field takes the default.
type Limits struct {
	// MaxRequestLine bounds the request line, CRLF and any empty lines
	// before it included; longer is refused with 414. Default 8 KiB.
	MaxRequestLine int
	// MaxHeaderBytes bounds the header section after the request line, the
	// final empty line included, and separately the trailer section of a
	// chunked body; larger is refused with 431. Default 32 KiB.
	MaxHeaderBytes int
	// MaxHeaders bounds the number of header (and trailer) field lines;
	// more is refused with 431. Default 100.
	MaxHeaders int
	// MaxBody bounds a request body. A Content-Length above it is refused
	// with 413 before the head is returned; a chunked body is refused with
	// 413 at the first chunk that would exceed it. Default 64 MiB;
	// negative means no limit.
	MaxBody int64
}

// Defaults for zero Limits fields.
const (
	DefaultMaxRequestLine = 8 << 10
	DefaultMaxHeaderBytes = 32 << 10
	DefaultMaxHeaders     = 100
	DefaultMaxBody        = 64 << 20
)

// maxChunkLine bounds a chunk-size line with its extensions (RFC 9112
// §7.1.1 asks servers to limit extensions); longer is refused with 400.
const maxChunkLine = 4 << 10

func (l Limits) withDefaults() Limits {
	if l.MaxRequestLine <= 0 {
		l.MaxRequestLine = DefaultMaxRequestLine
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	if l.MaxBody == 0 {
		l.MaxBody = DefaultMaxBody
	}
	// Offsets into the head are 32 bits.
	l.MaxRequestLine = min(l.MaxRequestLine, 1<<30)
	l.MaxHeaderBytes = min(l.MaxHeaderBytes, 1<<30)
	return l
}

// Event is what a call to Parser.Next found.
type Event uint8

const (
	// NeedMore: all input was consumed and the message is not complete.
	NeedMore Event = iota
	// Head: a request head is complete; see Parser.Request.
	Head
	// Body: body bytes, decoded from the chunked coding if need be; see
	// Parser.Body. An empty body gives no Body event.
	Body
	// End: the request is complete, trailers included. The next input
	// belongs to the next request.
	End
)

func (e Event) String() string {
	switch e {
	case NeedMore:
		return "NeedMore"
	case Head:
		return "Head"
	case Body:
		return "Body"
	case End:
		return "End"
	}
	return "Event(?)"
}

type state uint8

const (
	stHead      state = iota // reading a request head
	stEnd                    // body done (or none): End is next
	stLength                 // Content-Length body
	stChunkLine              // chunk-size line
	stChunkData              // chunk data
	stChunkCR                // CR after chunk data
	stChunkLF                // LF after chunk data
	stTrailer                // trailer section
)

// span is a field line's name and value as offsets into a buffer.
type span struct{ ns, ne, vs, ve int32 }

// fieldScan is the progress of scanning a field section line by line.
type fieldScan struct {
	off   int    // start of the first line not yet scanned
	seen  int    // b[off:seen] holds no LF: a line arriving a byte at a time is searched once
	start int    // start of the section, for the byte limit
	spans []span // field lines scanned so far
}

// Parser is an incremental HTTP/1.1 request parser for one connection. It
// does no I/O: the caller hands it input with Next and acts on the events.
// The zero Parser is ready to use with default Limits; set Limits before the
// first call. A Parser is not safe for concurrent use.
type Parser struct {
	Limits Limits

	lim   Limits
	init  bool
	state state
	err   *Error
	req   Request
	// refusedHead: err refused a head read whole, which req holds.
	refusedHead bool
	body        []byte
	remain      int64 // bytes left in the Content-Length body or current chunk
	total       int64 // chunked body bytes so far

	buf     []byte // the current request head
	pending bool   // buf holds a partial head
	reqEnd  int    // end of the request line in the head, 0 while unseen
	rl      reqLine
	hs      fieldScan

	line []byte    // partial chunk-size line
	tbuf []byte    // trailer section
	ts   fieldScan // trailer scan
}

// reqLine holds the request line's parts as offsets into the head.
type reqLine struct {
	ms, me   int // method
	ts, te   int // target
	minor    int
	pathS    int
	pathE    int
	queryS   int // -1 without a query
	schemeS  int
	schemeE  int
	authS    int
	authE    int
	asterisk bool
	slash    bool // absolute-form without a path: Path is "/"
}

// Reset makes the parser ready for a new connection, even after an error,
// keeping its buffers.
func (p *Parser) Reset() {
	*p = Parser{
		Limits: p.Limits,
		buf:    p.buf[:0],
		line:   p.line[:0],
		tbuf:   p.tbuf[:0],
		hs:     fieldScan{spans: p.hs.spans[:0]},
		ts:     fieldScan{spans: p.ts.spans[:0]},
	}
}

// Request returns the request whose head the last Head event reported. It
// stays valid until the first call to Next after the request's End event.
func (p *Parser) Request() *Request { return &p.req }

// RefusedHead returns, after Next returned an error, the request whose
// head was read whole and then refused (for its framing fields, its Host,
// or a Content-Length above MaxBody), so that the refusal can be logged
// with its method, target and fields; else nil, as when the error came
// before the end of the head.
func (p *Parser) RefusedHead() *Request {
	if p.err != nil && p.refusedHead {
		return &p.req
	}
	return nil
}

// Body returns the body bytes of the last Body event: a subslice of the
// input given to that call of Next, valid only as long as that input.
func (p *Parser) Body() []byte { return p.body }

// Next parses input. in is all input not yet consumed; Next consumes a prefix
// of it and reports at most one event:
//
//   - NeedMore: n == len(in); call again with more input.
//   - Head: the head is complete; Request returns it. End follows, after
//     any Body events, even with no body.
//   - Body: Body returns n or fewer bytes of body.
//   - End: the request is complete; the rest of in starts the next request
//     (pipelining). Call Next again with in[n:] to parse it.
//
// Input consumed is never needed again: the parser copies the head it keeps
// and body bytes are only handed out, so a 1 GiB upload passes through in
// bounded memory. A non-nil error is an *Error; the caller answers with its
// Status and closes the connection: once framing is in doubt no later byte
// can be trusted (RFC 9112 §6.3, §11.2). Every later call returns the same
// error.
func (p *Parser) Next(in []byte) (n int, ev Event, err error) {
	if p.err != nil {
		return 0, NeedMore, p.err
	}
	if !p.init {
		p.lim = p.Limits.withDefaults()
		p.init = true
	}
	p.body = nil
	for {
		switch p.state {
		case stHead:
			used, done, e := p.head(in[n:])
			n += used
			if e != nil {
				return n, NeedMore, p.fail(e)
			}
			if !done {
				return n, NeedMore, nil
			}
			return n, Head, nil

		case stEnd:
			p.state = stHead
			return n, End, nil

		case stLength, stChunkData:
			rest := in[n:]
			if len(rest) == 0 {
				return n, NeedMore, nil
			}
			k := len(rest)
			if int64(k) > p.remain {
				k = int(p.remain)
			}
			p.body = rest[:k]
			p.remain -= int64(k)
			n += k
			if p.remain == 0 {
				if p.state == stLength {
					p.state = stEnd
				} else {
					p.state = stChunkCR
				}
			}
			return n, Body, nil

		case stChunkCR, stChunkLF:
			if n == len(in) {
				return n, NeedMore, nil
			}
			want := byte('\r')
			if p.state == stChunkLF {
				want = '\n'
			}
			if in[n] != want {
				return n, NeedMore, p.fail(errChunkCRLF)
			}
			n++
			if p.state == stChunkCR {
				p.state = stChunkLF
			} else {
				p.state = stChunkLine
			}

		case stChunkLine:
			used, e := p.chunkLine(in[n:])
			n += used
			if e != nil {
				return n, NeedMore, p.fail(e)
			}
			if n == len(in) && p.state == stChunkLine {
				return n, NeedMore, nil
			}

		case stTrailer:
			used, done, e := p.trailer(in[n:])
			n += used
			if e != nil {
				return n, NeedMore, p.fail(e)
			}
			if !done {
				return n, NeedMore, nil
			}
			p.state = stHead
			return n, End, nil
		}
	}
}

func (p *Parser) fail(e *Error) error {
	p.err = e
	p.body = nil
	return e
}

// head consumes input of a request head. It scans in place when a whole head
// arrives in one piece (the common case) and copies it once into p.buf; a
// partial head is copied and the scan resumes where it stopped.
func (p *Parser) head(in []byte) (used int, done bool, err *Error) {
	if len(in) == 0 {
		return 0, false, nil
	}
	b, base := in, 0
	if p.pending {
		base = len(p.buf)
		// Take no more than the limits allow: the scan fails or completes
		// within that.
		take := p.lim.MaxRequestLine + p.lim.MaxHeaderBytes + 1 - base
		if take > len(in) {
			take = len(in)
		}
		p.buf = append(p.buf, in[:take]...)
		b = p.buf
	}
	end, err := p.scanHead(b)
	if err != nil {
		return len(in), false, err
	}
	if end == 0 {
		if !p.pending {
			p.buf = append(p.buf[:0], in...)
			p.pending = true
		}
		return len(in), false, nil
	}
	if p.pending {
		p.buf = p.buf[:end]
	} else {
		p.buf = append(p.buf[:0], in[:end]...)
	}
	if err := p.finishHead(); err != nil {
		p.refusedHead = true
		return end - base, false, err
	}
	return end - base, true, nil
}

// scanHead scans the complete lines of b from where it last stopped. It
// returns the end of the head once its empty line is seen. Limits are checked
// on partial lines the same way as on complete ones, so the outcome does not
// depend on how the input was split.
func (p *Parser) scanHead(b []byte) (end int, err *Error) {
	for p.reqEnd == 0 {
		off := p.hs.off
		i := p.hs.indexLF(b)
		if i < 0 {
			if len(b) >= p.lim.MaxRequestLine {
				return 0, errURITooLong
			}
			return 0, nil
		}
		le := off + i + 1
		if le > p.lim.MaxRequestLine {
			return 0, errURITooLong
		}
		if i == 0 || b[le-2] != '\r' {
			return 0, errBareLF
		}
		p.hs.off = le
		if i == 1 {
			// RFC 9112 §2.2: ignore empty lines before the request line.
			continue
		}
		if err := p.requestLine(b, off, le-2); err != nil {
			return 0, err
		}
		p.reqEnd = le
		p.hs.start = le
	}
	return p.hs.scan(b, p.lim, errHeaderTooLarge)
}

// indexLF returns the index of the first LF in b[s.off:], or -1.
func (s *fieldScan) indexLF(b []byte) int {
	from := max(s.off, s.seen)
	i := bytes.IndexByte(b[from:], '\n')
	if i < 0 {
		s.seen = len(b)
		return -1
	}
	return from + i - s.off
}

// scan scans field lines up to the empty line ending the section.
func (s *fieldScan) scan(b []byte, lim Limits, tooLarge *Error) (end int, err *Error) {
	for {
		off := s.off
		i := s.indexLF(b)
		if i < 0 {
			if len(b)-s.start >= lim.MaxHeaderBytes {
				return 0, tooLarge
			}
			return 0, nil
		}
		le := off + i + 1
		if le-s.start > lim.MaxHeaderBytes {
			return 0, tooLarge
		}
		if i == 0 || b[le-2] != '\r' {
			return 0, errBareLF
		}
		s.off = le
		if i == 1 {
			return le, nil
		}
		if len(s.spans) >= lim.MaxHeaders {
			return 0, errTooManyHeaders
		}
		sp, err := fieldLine(b, off, le-2)
		if err != nil {
			return 0, err
		}
		s.spans = append(s.spans, sp)
	}
}

// fieldLine checks one field line (RFC 9112 §5): a token name, a colon with
// no whitespace before it (§5.1), a value of field-vchar, SP and HTAB.
func fieldLine(b []byte, s, e int) (span, *Error) {
	line := b[s:e]
	if line[0] == ' ' || line[0] == '\t' {
		// obs-fold (§5.2), or whitespace before the first field (§2.2).
		return span{}, errObsFold
	}
	colon := -1
	for i, c := range line {
		if !tchar[c] {
			if c == ':' {
				colon = i
				break
			}
			switch c {
			case ' ', '\t':
				if bytes.IndexByte(line[i:], ':') >= 0 {
					return span{}, errSpaceBeforeColon
				}
				return span{}, errNoColon
			case '\r':
				return span{}, errBareCR
			}
			if bytes.IndexByte(line[i:], ':') < 0 {
				return span{}, errNoColon
			}
			return span{}, errFieldName
		}
	}
	if colon < 0 {
		return span{}, errNoColon
	}
	if colon == 0 {
		return span{}, errFieldName
	}
	vs, ve := colon+1, len(line)
	for vs < ve && (line[vs] == ' ' || line[vs] == '\t') {
		vs++
	}
	for ve > vs && (line[ve-1] == ' ' || line[ve-1] == '\t') {
		ve--
	}
	if !validValue(line[vs:ve]) {
		if bytes.IndexByte(line[vs:ve], '\r') >= 0 {
			return span{}, errBareCR
		}
		return span{}, errFieldValue
	}
	return span{int32(s), int32(s + colon), int32(s + vs), int32(s + ve)}, nil
}

// validValue reports whether v is all field-vchar, SP and HTAB (RFC 9110
// §5.5). Values are most of a head, so it checks eight bytes at a time for
// the bytes that need a closer look: controls (HTAB among them) and DEL.
func validValue(v []byte) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for len(v) >= 8 {
		x := binary.LittleEndian.Uint64(v)
		del := x ^ (0x7f * ones)
		if ((x-0x20*ones)&^x|(del-ones)&^del)&highs != 0 {
			break
		}
		v = v[8:]
	}
	for _, c := range v {
		if !vchar[c] {
			return false
		}
	}
	return true
}

// requestLine checks the request line b[s:e] (RFC 9112 §3): method SP
// request-target SP HTTP-version, single spaces, nothing else.
func (p *Parser) requestLine(b []byte, s, e int) *Error {
	line := b[s:e]
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		if bytes.IndexByte(line, '\r') >= 0 {
			return errBareCR
		}
		return errRequestLine
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 {
		return errRequestLine
	}
	sp2 += sp1 + 1
	v := line[sp2+1:]
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' ||
		v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		if bytes.IndexByte(line, '\r') >= 0 {
			return errBareCR
		}
		return errVersion
	}
	if v[5] != '1' || v[7] > '1' {
		return errHTTPVersion
	}
	for _, c := range line[:sp1] {
		if !tchar[c] {
			if c == '\r' {
				return errBareCR
			}
			return errMethod
		}
	}
	t := line[sp1+1 : sp2]
	for i, c := range t {
		if !tgchar[c] {
			if c == '\r' {
				return errBareCR
			}
			return errTarget
		}
		if c == '%' && !pctEncoded(t[i:]) {
			return errTarget
		}
	}
	p.rl = reqLine{
		ms: s, me: s + sp1,
		ts: s + sp1 + 1, te: s + sp2,
		minor:  int(v[7] - '0'),
		queryS: -1,
	}
	return p.target(b, string(line[:sp1]) == MethodConnect, string(line[:sp1]) == MethodOptions)
}

// target classifies the request-target (RFC 9112 §3.2): origin-form,
// absolute-form (any scheme, no userinfo, non-empty authority), authority
// form for CONNECT only, asterisk form for OPTIONS only.
func (p *Parser) target(b []byte, connect, options bool) *Error {
	r := &p.rl
	t := b[r.ts:r.te]
	switch {
	case connect:
		// authority-form: host ":" port, nothing else.
		if ok, _, port := validHost(t); !ok || port == 0 || t[0] == ':' {
			return errTarget
		}
		r.authS, r.authE = r.ts, r.te
		return nil
	case t[0] == '/':
		r.pathS = r.ts
		r.pathE = r.te
		if q := bytes.IndexByte(t, '?'); q >= 0 {
			r.pathE = r.ts + q
			r.queryS = r.pathE + 1
		}
		return nil
	case len(t) == 1 && t[0] == '*':
		if !options {
			return errTarget
		}
		r.asterisk = true
		return nil
	}
	// absolute-form: scheme "://" authority [path-abempty] ["?" query]
	i := 0
	for i < len(t) && (t[i] >= 'a' && t[i] <= 'z' || t[i] >= 'A' && t[i] <= 'Z' ||
		i > 0 && (t[i] >= '0' && t[i] <= '9' || t[i] == '+' || t[i] == '-' || t[i] == '.')) {
		i++
	}
	if i == 0 || len(t) < i+3 || string(t[i:i+3]) != "://" {
		return errTarget
	}
	r.schemeS, r.schemeE = r.ts, r.ts+i
	a := i + 3
	ae := a
	for ae < len(t) && t[ae] != '/' && t[ae] != '?' {
		ae++
	}
	if ok, _, _ := validHost(t[a:ae]); !ok || ae == a || t[a] == ':' {
		return errTarget
	}
	r.authS, r.authE = r.ts+a, r.ts+ae
	r.pathS, r.pathE = r.ts+ae, r.te
	if q := bytes.IndexByte(t[ae:], '?'); q >= 0 {
		r.pathE = r.ts + ae + q
		r.queryS = r.pathE + 1
	}
	r.slash = r.pathS == r.pathE
	return nil
}

// validHost checks a Host value or authority (RFC 3986 §3.2.2, §3.2.3):
// an IP literal in brackets, or reg-name characters, then an optional ":"
// and digits. Userinfo is refused (RFC 9110 §4.2.4), and so is
// percent-encoding: clients send host names in ASCII (IDNA), and decoders
// disagree on what an encoded host means. It returns whether a port
// follows, and how many digits it has.
func validHost(h []byte) (ok bool, colon bool, port int) {
	i := 0
	if len(h) > 0 && h[0] == '[' {
		e := bytes.IndexByte(h, ']')
		if e < 2 {
			return false, false, 0
		}
		for _, c := range h[1:e] {
			if !isHex(c) && c != ':' && c != '.' {
				return false, false, 0
			}
		}
		i = e + 1
	} else {
		for i < len(h) && hchar[h[i]] {
			i++
		}
	}
	if i == len(h) {
		return true, false, 0
	}
	if h[i] != ':' {
		return false, false, 0
	}
	for _, c := range h[i+1:] {
		if c < '0' || c > '9' {
			return false, false, 0
		}
	}
	return true, true, len(h) - i - 1
}

// pctEncoded reports whether b starts with "%" HEXDIG HEXDIG (RFC 3986
// §2.1).
func pctEncoded(b []byte) bool {
	return len(b) >= 3 && isHex(b[1]) && isHex(b[2])
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

var (
	slashPath    = []byte("/")
	asteriskPath = []byte("*")
)

// finishHead fills in the Request from the complete head in p.buf and
// applies the message-framing rules of RFC 9112 §6.
func (p *Parser) finishHead() *Error {
	b := p.buf
	rl := &p.rl
	r := &p.req
	*r = Request{Header: Fields{buf: b, spans: p.hs.spans}}
	p.hs = fieldScan{spans: p.hs.spans[:0]}
	p.reqEnd = 0
	p.pending = false

	m := b[rl.ms:rl.me]
	if r.Method = internMethod(m); r.Method == "" {
		r.Method = string(m)
	}
	r.Target = b[rl.ts:rl.te:rl.te]
	switch {
	case rl.asterisk:
		r.Path = asteriskPath
	case rl.slash:
		r.Path = slashPath
	case rl.pathE > rl.pathS:
		r.Path = b[rl.pathS:rl.pathE:rl.pathE]
	}
	if rl.queryS >= 0 {
		r.Query = b[rl.queryS:rl.te:rl.te]
	}
	if rl.schemeE > rl.schemeS {
		r.Scheme = b[rl.schemeS:rl.schemeE:rl.schemeE]
	}
	r.ProtoMinor = rl.minor
	r.Proto = "HTTP/1.1"
	if rl.minor == 0 {
		r.Proto = "HTTP/1.0"
	}

	var (
		hosts           int
		host            []byte
		haveCL, haveTE  bool
		cl              int64
		teChunked       int  // chunked codings seen
		teLastChunked   bool // the last coding is chunked
		teOther         bool // a coding other than chunked
		closeTok, keepT bool
		expect100       bool
	)
	for _, sp := range r.Header.spans {
		name, v := b[sp.ns:sp.ne], b[sp.vs:sp.ve]
		switch len(name) {
		case 4:
			if equalFold(name, "host") {
				hosts++
				host = v
			}
		case 6:
			if equalFold(name, "expect") && equalFold(v, "100-continue") {
				expect100 = true
			}
		case 10:
			if equalFold(name, "connection") {
				switch {
				case equalFold(v, "keep-alive"):
					keepT = true
					continue
				case equalFold(v, "close"):
					closeTok = true
					continue
				}
				forEachElem(v, func(tok []byte) {
					if equalFold(tok, "close") {
						closeTok = true
					} else if equalFold(tok, "keep-alive") {
						keepT = true
					}
				})
			}
		case 14:
			if equalFold(name, "content-length") {
				// RFC 9110 §8.6 lets a recipient take a list of
				// identical values as one; only repeated identical
				// lines are taken here, as net/http does: a comma is
				// malformed.
				x, ok := parseLength(v)
				if !ok {
					return errContentLength
				}
				if haveCL && x != cl {
					return errDiffLength
				}
				haveCL, cl = true, x
			}
		case 17:
			if equalFold(name, "transfer-encoding") {
				haveTE = true
				// Empty list elements, which RFC 9110 §5.6.1 would
				// have us skip, are refused: framing fields are where
				// lenient parsers disagree.
				for more := true; more; {
					c := v
					if i := bytes.IndexByte(v, ','); i >= 0 {
						c, v = v[:i], v[i+1:]
					} else {
						more = false
					}
					if c = trimOWS(c); !isToken(c) {
						return errTE
					}
					teLastChunked = equalFold(c, "chunked")
					if teLastChunked {
						teChunked++
					} else {
						teOther = true
					}
				}
			}
		}
	}

	// Host: RFC 9112 §3.2.
	if hosts > 1 {
		return errManyHost
	}
	if hosts == 0 && rl.minor == 1 {
		return errNoHost
	}
	if ok, _, _ := validHost(host); !ok {
		return errHost
	}
	r.Host = host
	if rl.authE > rl.authS {
		r.Host = b[rl.authS:rl.authE:rl.authE]
	}

	// Framing: RFC 9112 §6.1 and §6.3.
	switch {
	case haveTE && haveCL:
		return errLengthAndTE
	case haveTE && rl.minor == 0:
		return errTEOnHTTP10
	case haveTE && !teLastChunked:
		return errTENotChunked
	case haveTE && teChunked > 1:
		return errTEChunkedTwice
	case haveTE && teOther:
		return errTECoding
	case haveTE:
		r.Chunked = true
		r.ContentLength = -1
		p.state = stChunkLine
		p.total = 0
	case haveCL && p.lim.MaxBody >= 0 && cl > p.lim.MaxBody:
		return errBodyTooLarge
	case haveCL && cl > 0:
		r.ContentLength = cl
		p.remain = cl
		p.state = stLength
	default:
		p.state = stEnd
	}

	if rl.minor == 1 {
		r.keepAlive = !closeTok
		r.expect100 = expect100
	} else {
		r.keepAlive = keepT && !closeTok
	}
	return nil
}

// forEachElem calls f with each non-empty element of a comma-separated list
// (RFC 9110 §5.6.1), whitespace trimmed. Quoted commas are not special: the
// lists it reads (Connection, Content-Length, Transfer-Encoding) have none.
func forEachElem(v []byte, f func([]byte)) {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		var e []byte
		if i < 0 {
			e, v = v, nil
		} else {
			e, v = v[:i], v[i+1:]
		}
		if e = trimOWS(e); len(e) > 0 {
			f(e)
		}
	}
}

// parseLength parses 1*DIGIT (RFC 9110 §8.6): no sign, no space, no
// overflow.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// chunkLine consumes a chunk-size line (RFC 9112 §7.1), copying a partial
// line so that all input given is consumed.
func (p *Parser) chunkLine(in []byte) (used int, err *Error) {
	if len(in) == 0 {
		return 0, nil
	}
	i := bytes.IndexByte(in, '\n')
	if i < 0 {
		if len(p.line)+len(in) >= maxChunkLine {
			return len(in), errChunkLine
		}
		p.line = append(p.line, in...)
		return len(in), nil
	}
	line := in[:i+1]
	if len(p.line)+len(line) > maxChunkLine {
		return i + 1, errChunkLine
	}
	if len(p.line) > 0 {
		p.line = append(p.line, line...)
		line = p.line
	}
	size, err := parseChunkLine(line)
	p.line = p.line[:0]
	if err != nil {
		return i + 1, err
	}
	if size == 0 {
		p.state = stTrailer
		p.tbuf = p.tbuf[:0]
		p.ts = fieldScan{spans: p.ts.spans[:0]}
		return i + 1, nil
	}
	if p.lim.MaxBody >= 0 && size > p.lim.MaxBody-p.total {
		return i + 1, errBodyTooLarge
	}
	p.total += size
	p.remain = size
	p.state = stChunkData
	return i + 1, nil
}

// parseChunkLine parses chunk-size [chunk-ext] CRLF, line ending in LF:
//
//	chunk-size = 1*HEXDIG
//	chunk-ext  = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//
// Extensions are checked and ignored.
func parseChunkLine(line []byte) (int64, *Error) {
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return 0, errBareLF
	}
	line = line[:len(line)-2]
	var size int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if size > (1<<63-1)>>4 {
			return 0, errChunkOverflow
		}
		size = size<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, errChunkSize
	}
	rest := line[i:]
	for len(rest) > 0 {
		rest = skipBWS(rest)
		if len(rest) == 0 || rest[0] != ';' {
			if bytes.IndexByte(line, '\r') >= 0 {
				return 0, errBareCR
			}
			if i == len(line)-len(rest) {
				return 0, errChunkSize
			}
			return 0, errChunkExt
		}
		rest = skipBWS(rest[1:])
		n := 0
		for n < len(rest) && tchar[rest[n]] {
			n++
		}
		if n == 0 {
			return 0, errChunkExt
		}
		rest = rest[n:]
		r2 := skipBWS(rest)
		if len(r2) == 0 || r2[0] != '=' {
			if len(r2) > 0 && r2[0] != ';' {
				return 0, errChunkExt
			}
			rest = r2
			continue
		}
		rest = skipBWS(r2[1:])
		if len(rest) > 0 && rest[0] == '"' {
			k, ok := quotedString(rest)
			if !ok {
				return 0, errChunkExt
			}
			rest = rest[k:]
			continue
		}
		n = 0
		for n < len(rest) && tchar[rest[n]] {
			n++
		}
		if n == 0 {
			return 0, errChunkExt
		}
		rest = rest[n:]
	}
	return size, nil
}

func skipBWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// quotedString returns the length of the quoted-string (RFC 9110 §5.6.4)
// that b starts with.
func quotedString(b []byte) (int, bool) {
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			i++
			if i == len(b) || !vchar[b[i]] {
				return 0, false
			}
		case !vchar[c]:
			return 0, false
		}
	}
	return 0, false
}

// trailer consumes the trailer section after the last chunk (RFC 9112
// §7.1.2). Trailers are rare, so it always copies into p.tbuf.
func (p *Parser) trailer(in []byte) (used int, done bool, err *Error) {
	if len(in) == 0 {
		return 0, false, nil
	}
	base := len(p.tbuf)
	take := p.lim.MaxHeaderBytes + 1 - base
	if take > len(in) {
		take = len(in)
	}
	p.tbuf = append(p.tbuf, in[:take]...)
	end, err := p.ts.scan(p.tbuf, p.lim, errTrailerTooLarge)
	if err != nil {
		return take, false, err
	}
	if end == 0 {
		return take, false, nil
	}
	p.tbuf = p.tbuf[:end]
	p.req.Trailer = Fields{buf: p.tbuf, spans: p.ts.spans}
	return end - base, true, nil
}
