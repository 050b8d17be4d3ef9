package http1

import (
	"fmt"
	"strings"
	"testing"
)

// transcript is what parsing an input produced, in a form that does not
// depend on how the input was split: one line per request head, one per
// request end (with the body), and the error if any.
type transcript struct {
	lines  []string
	status int
	msg    string
}

func (t transcript) String() string {
	s := strings.Join(t.lines, "\n")
	if t.status != 0 {
		s += fmt.Sprintf("\nerror %d: %s", t.status, t.msg)
	}
	return s
}

func renderRequest(r *Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s host=%s path=%s", r.Method, r.Target, r.Proto, r.Host, r.Path)
	if r.Query != nil {
		fmt.Fprintf(&b, " query=%s", r.Query)
	}
	if r.Scheme != nil {
		fmt.Fprintf(&b, " scheme=%s", r.Scheme)
	}
	fmt.Fprintf(&b, " cl=%d ka=%t", r.ContentLength, r.KeepAlive())
	if r.Chunked {
		b.WriteString(" chunked")
	}
	if r.Expect100() {
		b.WriteString(" e100")
	}
	return b.String()
}

func renderEnd(r *Request, body []byte) string {
	s := fmt.Sprintf("end body=%q", body)
	for name, value := range r.Trailer.All() {
		s += fmt.Sprintf(" trailer[%s=%s]", name, value)
	}
	return s
}

// feed parses chunks the way an engine hands them to a handler: input not
// consumed is kept and handed again with the next chunk.
func feed(t testing.TB, lim Limits, chunks [][]byte) transcript {
	t.Helper()
	p := &Parser{Limits: lim}
	var (
		tr      transcript
		pending []byte
		body    []byte
		inBody  bool
	)
	for _, c := range chunks {
		pending = append(pending, c...)
		off := 0
		for {
			in := pending[off:]
			n, ev, err := p.Next(in)
			if n < 0 || n > len(in) {
				t.Fatalf("Next consumed %d of %d bytes", n, len(in))
			}
			off += n
			if err != nil {
				e, ok := err.(*Error)
				if !ok {
					t.Fatalf("error %T %v, want *Error", err, err)
				}
				tr.status, tr.msg = e.Status, e.Msg
				if _, _, err2 := p.Next([]byte("GET / HTTP/1.1\r\n\r\n")); err2 != err {
					t.Fatalf("after an error Next returned %v, want %v", err2, err)
				}
				return tr
			}
			switch ev {
			case NeedMore:
				if n != len(in) {
					t.Fatalf("NeedMore after consuming %d of %d bytes", n, len(in))
				}
			case Head:
				if inBody {
					t.Fatal("Head before End")
				}
				inBody = true
				body = body[:0]
				tr.lines = append(tr.lines, renderRequest(p.Request()))
			case Body:
				if !inBody || len(p.Body()) == 0 || len(p.Body()) > n {
					t.Fatalf("bad Body event: inBody=%t len=%d n=%d", inBody, len(p.Body()), n)
				}
				body = append(body, p.Body()...)
			case End:
				if !inBody {
					t.Fatal("End without Head")
				}
				inBody = false
				tr.lines = append(tr.lines, renderEnd(p.Request(), body))
			}
			if ev == NeedMore {
				break
			}
		}
		pending = pending[off:]
	}
	return tr
}

type parseRow struct {
	name   string
	in     string
	lim    Limits
	want   []string // transcript lines
	status int      // expected error status, 0 for none
	msg    string   // expected error message
	// afterHead marks an error row whose head is valid: the Head event
	// comes before the error.
	afterHead bool
}

const h11 = " HTTP/1.1\r\nHost: example.com\r\n"

var parseRows = []parseRow{
	// Valid requests.
	{name: "get", in: "GET /" + h11 + "\r\n", want: []string{
		"GET / HTTP/1.1 host=example.com path=/ cl=0 ka=true", `end body=""`}},
	{name: "get query", in: "GET /a/b?c=d&e" + h11 + "User-Agent: x\r\n\r\n", want: []string{
		"GET /a/b?c=d&e HTTP/1.1 host=example.com path=/a/b query=c=d&e cl=0 ka=true", `end body=""`}},
	{name: "empty query", in: "GET /?" + h11 + "\r\n", want: []string{
		"GET /? HTTP/1.1 host=example.com path=/ query= cl=0 ka=true", `end body=""`}},
	{name: "http10 no host", in: "GET / HTTP/1.0\r\n\r\n", want: []string{
		"GET / HTTP/1.0 host= path=/ cl=0 ka=false", `end body=""`}},
	{name: "http10 keep-alive", in: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", want: []string{
		"GET / HTTP/1.0 host= path=/ cl=0 ka=true", `end body=""`}},
	{name: "http10 keep-alive and close", in: "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", want: []string{
		"GET / HTTP/1.0 host= path=/ cl=0 ka=false", `end body=""`}},
	{name: "http11 close", in: "GET /" + h11 + "Connection: upgrade, CLOSE\r\n\r\n", want: []string{
		"GET / HTTP/1.1 host=example.com path=/ cl=0 ka=false", `end body=""`}},
	{name: "post content-length", in: "POST /up" + h11 + "Content-Length: 5\r\n\r\nhello", want: []string{
		"POST /up HTTP/1.1 host=example.com path=/up cl=5 ka=true", `end body="hello"`}},
	{name: "content-length zero", in: "POST /" + h11 + "Content-Length: 0\r\n\r\n", want: []string{
		"POST / HTTP/1.1 host=example.com path=/ cl=0 ka=true", `end body=""`}},
	{name: "repeated identical content-length", in: "POST /" + h11 + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", want: []string{
		"POST / HTTP/1.1 host=example.com path=/ cl=3 ka=true", `end body="abc"`}},
	{name: "http10 content-length", in: "POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi", want: []string{
		"POST / HTTP/1.0 host= path=/ cl=2 ka=false", `end body="hi"`}},
	{name: "chunked", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nA\r\n, world!!!\r\n0\r\n\r\n", want: []string{
		"POST / HTTP/1.1 host=example.com path=/ cl=-1 ka=true chunked", `end body="hello, world!!!"`}},
	{name: "chunked extensions and trailers", in: "POST /" + h11 + "Transfer-Encoding: Chunked\r\n\r\n" +
		"05;name=value;flag\r\nhello\r\n" +
		"1 ; q=\"a \\\"quoted\\\" ;x\"\t; r = s\r\n!\r\n" +
		"0;last\r\nX-Sum: abc\r\nX-Other:  two words \r\n\r\n", want: []string{
		"POST / HTTP/1.1 host=example.com path=/ cl=-1 ka=true chunked",
		`end body="hello!" trailer[X-Sum=abc] trailer[X-Other=two words]`}},
	{name: "chunked hex digits", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n00000a\r\n0123456789\r\nf\r\nabcdefghijklmno\r\n0\r\n\r\n", want: []string{
		"POST / HTTP/1.1 host=example.com path=/ cl=-1 ka=true chunked", `end body="0123456789abcdefghijklmno"`}},
	{name: "expect 100-continue", in: "PUT /f" + h11 + "Expect: 100-Continue\r\nContent-Length: 1\r\n\r\nx", want: []string{
		"PUT /f HTTP/1.1 host=example.com path=/f cl=1 ka=true e100", `end body="x"`}},
	{name: "expect ignored on http10", in: "PUT /f HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", want: []string{
		"PUT /f HTTP/1.0 host= path=/f cl=0 ka=false", `end body=""`}},
	{name: "absolute form", in: "GET http://Example.org:8080/x/y?z" + h11 + "\r\n", want: []string{
		"GET http://Example.org:8080/x/y?z HTTP/1.1 host=Example.org:8080 path=/x/y query=z scheme=http cl=0 ka=true", `end body=""`}},
	{name: "absolute form no path", in: "GET https://example.org" + h11 + "\r\n", want: []string{
		"GET https://example.org HTTP/1.1 host=example.org path=/ scheme=https cl=0 ka=true", `end body=""`}},
	{name: "absolute form query no path", in: "GET http://a.b?q" + h11 + "\r\n", want: []string{
		"GET http://a.b?q HTTP/1.1 host=a.b path=/ query=q scheme=http cl=0 ka=true", `end body=""`}},
	{name: "options asterisk", in: "OPTIONS *" + h11 + "\r\n", want: []string{
		"OPTIONS * HTTP/1.1 host=example.com path=* cl=0 ka=true", `end body=""`}},
	{name: "connect authority", in: "CONNECT example.com:443" + h11 + "\r\n", want: []string{
		"CONNECT example.com:443 HTTP/1.1 host=example.com:443 path= cl=0 ka=true", `end body=""`}},
	{name: "connect ipv6", in: "CONNECT [::1]:443" + h11 + "\r\n", want: []string{
		"CONNECT [::1]:443 HTTP/1.1 host=[::1]:443 path= cl=0 ka=true", `end body=""`}},
	{name: "leading empty lines", in: "\r\n\r\nGET /" + h11 + "\r\n", want: []string{
		"GET / HTTP/1.1 host=example.com path=/ cl=0 ka=true", `end body=""`}},
	{name: "empty host", in: "GET / HTTP/1.1\r\nHost:\r\n\r\n", want: []string{
		"GET / HTTP/1.1 host= path=/ cl=0 ka=true", `end body=""`}},
	{name: "host ipv6 port", in: "GET / HTTP/1.1\r\nhOsT: [::1]:80\r\n\r\n", want: []string{
		"GET / HTTP/1.1 host=[::1]:80 path=/ cl=0 ka=true", `end body=""`}},
	{name: "obs-text and tabs in value", in: "GET /" + h11 + "X-A: \t caf\xc3\xa9\tb \t\r\nX-Empty:\r\n\r\n", want: []string{
		"GET / HTTP/1.1 host=example.com path=/ cl=0 ka=true", `end body=""`}},
	{name: "token method", in: "M-SEARCH~1 /" + h11 + "\r\n", want: []string{
		"M-SEARCH~1 / HTTP/1.1 host=example.com path=/ cl=0 ka=true", `end body=""`}},
	{name: "pipelined", in: "GET /1" + h11 + "\r\nHEAD /2" + h11 + "\r\nPOST /3" + h11 + "Content-Length: 3\r\n\r\nabcDELETE /4" + h11 + "\r\n", want: []string{
		"GET /1 HTTP/1.1 host=example.com path=/1 cl=0 ka=true", `end body=""`,
		"HEAD /2 HTTP/1.1 host=example.com path=/2 cl=0 ka=true", `end body=""`,
		"POST /3 HTTP/1.1 host=example.com path=/3 cl=3 ka=true", `end body="abc"`,
		"DELETE /4 HTTP/1.1 host=example.com path=/4 cl=0 ka=true", `end body=""`}},
	{name: "pipelined chunked", in: "POST /a" + h11 + "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nT: 1\r\n\r\nGET /b" + h11 + "\r\n", want: []string{
		"POST /a HTTP/1.1 host=example.com path=/a cl=-1 ka=true chunked", `end body="x" trailer[T=1]`,
		"GET /b HTTP/1.1 host=example.com path=/b cl=0 ka=true", `end body=""`}},
	{name: "incomplete head", in: "GET / HTTP/1.1\r\nHost: a\r\n"},
	{name: "incomplete body", in: "POST /" + h11 + "Content-Length: 10\r\n\r\nabc", want: []string{
		"POST / HTTP/1.1 host=example.com path=/ cl=10 ka=true"}},
	{name: "incomplete trailers", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n0\r\nA: b\r\n", want: []string{
		"POST / HTTP/1.1 host=example.com path=/ cl=-1 ka=true chunked"}},
	{name: "request line at limit", lim: Limits{MaxRequestLine: 18}, in: "GET /12 HTTP/1.0\r\n\r\n", want: []string{
		"GET /12 HTTP/1.0 host= path=/12 cl=0 ka=false", `end body=""`}},
	{name: "headers at byte limit", lim: Limits{MaxHeaderBytes: 11}, in: "GET / HTTP/1.0\r\nA: 1234\r\n\r\n", want: []string{
		"GET / HTTP/1.0 host= path=/ cl=0 ka=false", `end body=""`}},
	{name: "headers at count limit", lim: Limits{MaxHeaders: 2}, in: "GET /" + h11 + "A: 1\r\n\r\n", want: []string{
		"GET / HTTP/1.1 host=example.com path=/ cl=0 ka=true", `end body=""`}},
	{name: "body at limit", lim: Limits{MaxBody: 3}, in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n", want: []string{
		"POST / HTTP/1.1 host=example.com path=/ cl=-1 ka=true chunked", `end body="abc"`}},
	{name: "no body limit", lim: Limits{MaxBody: -1}, in: "POST /" + h11 + "Content-Length: 100000000000\r\n\r\n", want: []string{
		"POST / HTTP/1.1 host=example.com path=/ cl=100000000000 ka=true"}},

	// Framing and request smuggling (RFC 9112 §6).
	{name: "content-length with transfer-encoding", in: "POST /" + h11 + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400, msg: "Content-Length with Transfer-Encoding"},
	{name: "transfer-encoding with content-length", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", status: 400, msg: "Content-Length with Transfer-Encoding"},
	{name: "differing content-length lines", in: "POST /" + h11 + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", status: 400, msg: "differing Content-Length"},
	{name: "content-length list", in: "POST /" + h11 + "Content-Length: 5, 5\r\n\r\n", status: 400, msg: "malformed Content-Length"},
	{name: "content-length negative", in: "POST /" + h11 + "Content-Length: -5\r\n\r\n", status: 400, msg: "malformed Content-Length"},
	{name: "content-length plus", in: "POST /" + h11 + "Content-Length: +5\r\n\r\n", status: 400, msg: "malformed Content-Length"},
	{name: "content-length hex", in: "POST /" + h11 + "Content-Length: 0x5\r\n\r\n", status: 400, msg: "malformed Content-Length"},
	{name: "content-length letters", in: "POST /" + h11 + "Content-Length: 5a\r\n\r\n", status: 400, msg: "malformed Content-Length"},
	{name: "content-length empty", in: "POST /" + h11 + "Content-Length:\r\n\r\n", status: 400, msg: "malformed Content-Length"},
	{name: "content-length empty element", in: "POST /" + h11 + "Content-Length: 5,\r\n\r\n", status: 400, msg: "malformed Content-Length"},
	{name: "content-length inner space", in: "POST /" + h11 + "Content-Length: 1 2\r\n\r\n", status: 400, msg: "malformed Content-Length"},
	{name: "content-length overflow", in: "POST /" + h11 + "Content-Length: 99999999999999999999\r\n\r\n", status: 400, msg: "malformed Content-Length"},
	{name: "content-length too large", lim: Limits{MaxBody: 4}, in: "POST /" + h11 + "Content-Length: 5\r\n\r\nhello", status: 413, msg: "body too large"},
	{name: "te not ending in chunked", in: "POST /" + h11 + "Transfer-Encoding: chunked, gzip\r\n\r\n", status: 400, msg: "Transfer-Encoding not ending in chunked"},
	{name: "te identity", in: "POST /" + h11 + "Transfer-Encoding: identity\r\n\r\n", status: 400, msg: "Transfer-Encoding not ending in chunked"},
	{name: "te empty", in: "POST /" + h11 + "Transfer-Encoding:\r\n\r\n", status: 400, msg: "malformed Transfer-Encoding"},
	{name: "te empty element", in: "POST /" + h11 + "Transfer-Encoding: chunked,\r\n\r\n", status: 400, msg: "malformed Transfer-Encoding"},
	{name: "te leading comma", in: "POST /" + h11 + "Transfer-Encoding: , chunked\r\n\r\n", status: 400, msg: "malformed Transfer-Encoding"},
	{name: "te chunked twice", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400, msg: "chunked applied more than once"},
	{name: "te with parameter", in: "POST /" + h11 + "Transfer-Encoding: chunked;q=1\r\n\r\n", status: 400, msg: "malformed Transfer-Encoding"},
	{name: "te unknown coding", in: "POST /" + h11 + "Transfer-Encoding: gzip, chunked\r\n\r\n", status: 501, msg: "unsupported transfer coding"},
	{name: "te on http10", in: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400, msg: "Transfer-Encoding in HTTP/1.0"},
	{afterHead: true, name: "chunk size negative", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", status: 400, msg: "invalid chunk size"},
	{afterHead: true, name: "chunk size plus", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", status: 400, msg: "invalid chunk size"},
	{afterHead: true, name: "chunk size 0x", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", status: 400, msg: "invalid chunk size"},
	{afterHead: true, name: "chunk size empty", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n", status: 400, msg: "invalid chunk size"},
	{afterHead: true, name: "chunk size leading space", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", status: 400, msg: "invalid chunk size"},
	{afterHead: true, name: "chunk size trailing space", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", status: 400, msg: "invalid chunk extension"},
	{afterHead: true, name: "chunk size overflow", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\nx\r\n", status: 400, msg: "chunk size overflow"},
	{afterHead: true, name: "chunk size int64 overflow", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n8000000000000000\r\nx\r\n", status: 400, msg: "chunk size overflow"},
	{afterHead: true, name: "chunk size not hex", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\ng\r\n", status: 400, msg: "invalid chunk size"},
	{afterHead: true, name: "chunk size bare LF", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", status: 400, msg: "bare LF"},
	{afterHead: true, name: "chunk size bare CR", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n5\r;x\r\nhello\r\n0\r\n\r\n", status: 400, msg: "bare CR"},
	{afterHead: true, name: "chunk ext empty name", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n", status: 400, msg: "invalid chunk extension"},
	{afterHead: true, name: "chunk ext empty value", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n5;a=\r\nhello\r\n0\r\n\r\n", status: 400, msg: "invalid chunk extension"},
	{afterHead: true, name: "chunk ext unterminated quote", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n0\r\n\r\n", status: 400, msg: "invalid chunk extension"},
	{afterHead: true, name: "chunk ext bad char", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n5;a=b c\r\nhello\r\n0\r\n\r\n", status: 400, msg: "invalid chunk extension"},
	{afterHead: true, name: "chunk line too long", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n5;a=" + strings.Repeat("b", maxChunkLine) + "\r\nhello\r\n0\r\n\r\n", status: 400, msg: "chunk line too long"},
	{afterHead: true, name: "chunk data without CRLF", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", status: 400, msg: "missing CRLF after chunk data"},
	{afterHead: true, name: "chunk data LF only", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", status: 400, msg: "missing CRLF after chunk data"},
	{afterHead: true, name: "chunked body too large", lim: Limits{MaxBody: 3}, in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n", status: 413, msg: "body too large"},
	{afterHead: true, name: "bad trailer", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n0\r\nX : y\r\n\r\n", status: 400, msg: "whitespace before colon"},
	{afterHead: true, name: "trailer too large", lim: Limits{MaxHeaderBytes: 60}, in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n0\r\nX: " + strings.Repeat("y", 60) + "\r\n\r\n", status: 431, msg: "trailer section too large"},

	// Field syntax (RFC 9112 §5, §2.2).
	{name: "whitespace before colon", in: "GET /" + h11 + "X-A : b\r\n\r\n", status: 400, msg: "whitespace before colon"},
	{name: "tab before colon", in: "GET /" + h11 + "X-A\t: b\r\n\r\n", status: 400, msg: "whitespace before colon"},
	{name: "whitespace before colon on host", in: "GET / HTTP/1.1\r\nHost : example.com\r\n\r\n", status: 400, msg: "whitespace before colon"},
	{name: "obs-fold", in: "GET /" + h11 + "X-A: b\r\n c\r\n\r\n", status: 400, msg: "obsolete line folding"},
	{name: "obs-fold tab", in: "GET /" + h11 + "X-A: b\r\n\tc\r\n\r\n", status: 400, msg: "obsolete line folding"},
	{name: "whitespace before first field", in: "GET / HTTP/1.1\r\n Host: example.com\r\n\r\n", status: 400, msg: "obsolete line folding"},
	{name: "bare LF in request line", in: "GET / HTTP/1.1\nHost: a\r\n\r\n", status: 400, msg: "bare LF"},
	{name: "bare LF after field", in: "GET /" + h11 + "X-A: b\n\r\n", status: 400, msg: "bare LF"},
	{name: "bare LF ending head", in: "GET /" + h11 + "\n", status: 400, msg: "bare LF"},
	{name: "bare LF in value", in: "GET /" + h11 + "X-A: b\nc\r\n\r\n", status: 400, msg: "bare LF"},
	{name: "bare LF before request", in: "\nGET /" + h11 + "\r\n", status: 400, msg: "bare LF"},
	{name: "bare CR in value", in: "GET /" + h11 + "X-A: b\rc\r\n\r\n", status: 400, msg: "bare CR"},
	{name: "bare CR in name", in: "GET /" + h11 + "X\r: c\r\n\r\n", status: 400, msg: "bare CR"},
	{name: "bare CR in request line", in: "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, msg: "bare CR"},
	{name: "bare CR ending request line", in: "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", status: 400, msg: "bare CR"},
	{name: "NUL in value", in: "GET /" + h11 + "X-A: b\x00c\r\n\r\n", status: 400, msg: "invalid header value"},
	{name: "NUL in name", in: "GET /" + h11 + "X\x00A: b\r\n\r\n", status: 400, msg: "invalid header name"},
	{name: "NUL in target", in: "GET /\x00" + h11 + "\r\n", status: 400, msg: "invalid request target"},
	{name: "DEL in value", in: "GET /" + h11 + "X-A: \x7f\r\n\r\n", status: 400, msg: "invalid header value"},
	{name: "control in value", in: "GET /" + h11 + "X-A: \x01\r\n\r\n", status: 400, msg: "invalid header value"},
	{name: "invalid name char", in: "GET /" + h11 + "X(A): b\r\n\r\n", status: 400, msg: "invalid header name"},
	{name: "invalid name non-ascii", in: "GET /" + h11 + "X\xc3\xa9: b\r\n\r\n", status: 400, msg: "invalid header name"},
	{name: "empty name", in: "GET /" + h11 + ": b\r\n\r\n", status: 400, msg: "invalid header name"},
	{name: "no colon", in: "GET /" + h11 + "X-A b\r\n\r\n", status: 400, msg: "header line without colon"},
	{name: "missing host", in: "GET / HTTP/1.1\r\n\r\n", status: 400, msg: "missing Host"},
	{name: "repeated host", in: "GET /" + h11 + "Host: example.com\r\n\r\n", status: 400, msg: "repeated Host"},
	{name: "repeated host http10", in: "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", status: 400, msg: "repeated Host"},
	{name: "repeated host absolute form", in: "GET http://a/" + h11 + "Host: b\r\n\r\n", status: 400, msg: "repeated Host"},
	{name: "missing host absolute form", in: "GET http://a/ HTTP/1.1\r\n\r\n", status: 400, msg: "missing Host"},
	{name: "invalid host", in: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400, msg: "invalid Host"},
	{name: "host with userinfo", in: "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", status: 400, msg: "invalid Host"},

	// Request line (RFC 9112 §3).
	{name: "double space", in: "GET  /" + h11 + "\r\n", status: 400, msg: "malformed request line"},
	{name: "space before version", in: "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, msg: "malformed HTTP version"},
	{name: "trailing space", in: "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", status: 400, msg: "malformed HTTP version"},
	{name: "leading space", in: " GET /" + h11 + "\r\n", status: 400, msg: "malformed request line"},
	{name: "tab separator", in: "GET\t/" + h11 + "\r\n", status: 400, msg: "malformed request line"},
	{name: "http09", in: "GET /\r\n\r\n", status: 400, msg: "malformed request line"},
	{name: "lower-case version", in: "GET / http/1.1\r\nHost: a\r\n\r\n", status: 400, msg: "malformed HTTP version"},
	{name: "short version", in: "GET / HTTP/1\r\nHost: a\r\n\r\n", status: 400, msg: "malformed HTTP version"},
	{name: "two-digit version", in: "GET / HTTP/1.10\r\nHost: a\r\n\r\n", status: 400, msg: "malformed HTTP version"},
	{name: "invalid method", in: "G(T /" + h11 + "\r\n", status: 400, msg: "invalid method"},
	{name: "empty target", in: "GET  HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, msg: "malformed request line"},
	{name: "relative target", in: "GET x" + h11 + "\r\n", status: 400, msg: "invalid request target"},
	{name: "asterisk not options", in: "GET *" + h11 + "\r\n", status: 400, msg: "invalid request target"},
	{name: "fragment in target", in: "GET /a#b" + h11 + "\r\n", status: 400, msg: "invalid request target"},
	{name: "bad percent-encoding", in: "GET /a%2x" + h11 + "\r\n", status: 400, msg: "invalid request target"},
	{name: "truncated percent-encoding", in: "GET /a%2" + h11 + "\r\n", status: 400, msg: "invalid request target"},
	{name: "percent-encoding in host", in: "GET / HTTP/1.1\r\nHost: a%41\r\n\r\n", status: 400, msg: "invalid Host"},
	{name: "percent-encoding in authority", in: "GET http://a%41/" + h11 + "\r\n", status: 400, msg: "invalid request target"},
	{name: "non-ascii target", in: "GET /caf\xc3\xa9" + h11 + "\r\n", status: 400, msg: "invalid request target"},
	{name: "absolute form userinfo", in: "GET http://u@a/" + h11 + "\r\n", status: 400, msg: "invalid request target"},
	{name: "absolute form empty authority", in: "GET http:///x" + h11 + "\r\n", status: 400, msg: "invalid request target"},
	{name: "absolute form no slashes", in: "GET http:x" + h11 + "\r\n", status: 400, msg: "invalid request target"},
	{name: "connect origin form", in: "CONNECT /x" + h11 + "\r\n", status: 400, msg: "invalid request target"},
	{name: "connect no port", in: "CONNECT example.com" + h11 + "\r\n", status: 400, msg: "invalid request target"},
	{name: "connect bare ipv6", in: "CONNECT 0::0" + h11 + "\r\n", status: 400, msg: "invalid request target"},
	{name: "connect empty port", in: "CONNECT a:" + h11 + "\r\n", status: 400, msg: "invalid request target"},
	{name: "host two colons", in: "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", status: 400, msg: "invalid Host"},
	{name: "host bad ipv6", in: "GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n", status: 400, msg: "invalid Host"},
	{name: "host junk after ipv6", in: "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", status: 400, msg: "invalid Host"},
	{name: "connect bad port", in: "CONNECT example.com:44x" + h11 + "\r\n", status: 400, msg: "invalid request target"},
	{name: "http2 preface", in: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status: 505, msg: "unsupported HTTP version"},
	{name: "http20", in: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", status: 505, msg: "unsupported HTTP version"},
	{name: "http12", in: "GET / HTTP/1.2\r\nHost: a\r\n\r\n", status: 505, msg: "unsupported HTTP version"},
	{name: "http09 version", in: "GET / HTTP/0.9\r\n\r\n", status: 505, msg: "unsupported HTTP version"},

	// Limits.
	{name: "request line too long", lim: Limits{MaxRequestLine: 18}, in: "GET /123 HTTP/1.0\r\n\r\n", status: 414, msg: "request line too long"},
	{name: "request line too long unterminated", lim: Limits{MaxRequestLine: 18}, in: "GET /1234567890123456789", status: 414, msg: "request line too long"},
	{name: "leading empty lines count", lim: Limits{MaxRequestLine: 18}, in: "\r\nGET /1 HTTP/1.0\r\n\r\n", status: 414, msg: "request line too long"},
	{name: "header bytes", lim: Limits{MaxHeaderBytes: 11}, in: "GET / HTTP/1.0\r\nA: 12345\r\n\r\n", status: 431, msg: "header section too large"},
	{name: "header bytes unterminated", lim: Limits{MaxHeaderBytes: 11}, in: "GET / HTTP/1.0\r\nA: 1234567890", status: 431, msg: "header section too large"},
	{name: "header count", lim: Limits{MaxHeaders: 2}, in: "GET /" + h11 + "A: 1\r\nB: 2\r\n\r\n", status: 431, msg: "too many header fields"},

	// Errors after valid pipelined requests.
	{name: "pipelined then bad", in: "GET /1" + h11 + "\r\nGET /2 HTTP/1.1\r\n\r\n", want: []string{
		"GET /1 HTTP/1.1 host=example.com path=/1 cl=0 ka=true", `end body=""`}, status: 400, msg: "missing Host"},
	{name: "body then bad chunk", in: "POST /" + h11 + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n", want: []string{
		"POST / HTTP/1.1 host=example.com path=/ cl=-1 ka=true chunked"}, status: 400, msg: "invalid chunk size"},
}

// splits returns the ways the table test cuts an input: whole, in two at
// every position, and a byte at a time.
func splits(in []byte) [][][]byte {
	ss := [][][]byte{{in}}
	for i := 0; i <= len(in); i++ {
		ss = append(ss, [][]byte{in[:i], in[i:]})
	}
	var bytewise [][]byte
	for i := range in {
		bytewise = append(bytewise, in[i:i+1])
	}
	return append(ss, bytewise)
}

func TestParse(t *testing.T) {
	for _, row := range parseRows {
		t.Run(row.name, func(t *testing.T) {
			in := []byte(row.in)
			got := feed(t, row.lim, [][]byte{in})
			want := transcript{lines: row.want, status: row.status, msg: row.msg}
			if row.afterHead {
				if len(got.lines) != 1 {
					t.Fatalf("got %d transcript lines before the error, want the head only", len(got.lines))
				}
				want.lines = got.lines
			}
			if got.String() != want.String() {
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
			for _, s := range splits(in) {
				if g := feed(t, row.lim, s); g.String() != got.String() {
					t.Fatalf("split into %d pieces (first %d bytes): got\n%s\nwant\n%s", len(s), len(s[0]), g, got)
				}
			}
		})
	}
}

// TestValidValue checks the eight-bytes-at-a-time value check against the
// byte table, for every byte at every position.
func TestValidValue(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 19; pos++ {
			v := []byte(strings.Repeat("a", 19))
			v[pos] = byte(c)
			if got, want := validValue(v), vchar[c]; got != want {
				t.Fatalf("byte %#x at %d: got %t, want %t", c, pos, got, want)
			}
		}
	}
}

// TestRefusedHead: a head refused once read whole is there for the log;
// one refused before its end is not, nor is the last good request.
func TestRefusedHead(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"PUT /big HTTP/1.1\r\nHost: x\r\nUser-Agent: ua\r\nContent-Length: 101\r\n\r\n", "PUT /big ua"},
		{"GET /te HTTP/1.1\r\nHost: x\r\nUser-Agent: ua\r\nTransfer-Encoding: gzip\r\n\r\n", "GET /te ua"},
		{"GET /nohost HTTP/1.1\r\nUser-Agent: ua\r\n\r\n", "GET /nohost ua"},
		{"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /bad\x01 HTTP/1.1\r\n\r\n", ""},
		{"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nBad Name: x\r\n\r\n", ""},
	} {
		p := &Parser{Limits: Limits{MaxBody: 100}}
		in := []byte(tc.in)
		var err error
		for err == nil && len(in) > 0 {
			var n int
			n, _, err = p.Next(in)
			in = in[n:]
		}
		if err == nil {
			t.Fatalf("%q: no error", tc.in)
		}
		got := ""
		if r := p.RefusedHead(); r != nil {
			got = fmt.Sprintf("%s %s %s", r.Method, r.Target, r.Header.Get("User-Agent"))
		}
		if got != tc.want {
			t.Errorf("%q: RefusedHead %q, want %q", tc.in, got, tc.want)
		}
	}
	var p Parser
	if p.RefusedHead() != nil {
		t.Error("RefusedHead before any error")
	}
}

// TestChunkedEmptyBody: a chunked request with no data is a request with
// an empty body, whatever its method.
func TestChunkedEmptyBody(t *testing.T) {
	tr := feed(t, Limits{}, [][]byte{[]byte("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")})
	want := "GET / HTTP/1.1 host=x path=/ cl=-1 ka=true chunked\nend body=\"\"\nGET /next HTTP/1.1 host=x path=/next cl=0 ka=true\nend body=\"\""
	if got := tr.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
