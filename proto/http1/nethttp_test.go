package http1_test

// The only test that imports net/http: it checks the parser against
// http.ReadRequest on requests both must accept.

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"github.com/portside/portside/proto/http1"
)

var validRequests = []string{
	"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"GET /a/b%20c?x=1&y=%2F HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"GET /x HTTP/1.0\r\nConnection: keep-alive\r\nX-Multi: a\r\nx-multi: b\r\n\r\n",
	"HEAD /file HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	"POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2",
	"PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\nhello world",
	"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
		"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Sum: 42\r\n\r\n",
	"GET http://example.org/p?q=1 HTTP/1.1\r\nHost: example.org\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
	"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
	"DELETE /r/1 HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Space:   padded\t \r\n\r\n",
	"PURGE /cache HTTP/1.1\r\nHost: h\r\nX-Obs: caf\xc3\xa9\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1; b=2\r\nCookie: c=3\r\n\r\n",
}

// parsed is the part of a request both parsers report.
type parsed struct {
	method, target, host, proto string
	close                       bool
	contentLength               int64
	header                      http.Header
	body                        string
	trailer                     http.Header
}

func parseOurs(t *testing.T, in string) parsed {
	t.Helper()
	var (
		p    http1.Parser
		got  parsed
		body []byte
		b    = []byte(in)
	)
	for off := 0; ; {
		n, ev, err := p.Next(b[off:])
		if err != nil {
			t.Fatalf("http1: %v", err)
		}
		off += n
		r := p.Request()
		switch ev {
		case http1.NeedMore:
			t.Fatalf("http1: incomplete after %d bytes", off)
		case http1.Head:
			got = parsed{
				method:        r.Method,
				target:        string(r.Target),
				host:          string(r.Host),
				proto:         r.Proto,
				close:         !r.KeepAlive(),
				contentLength: r.ContentLength,
				header:        http.Header{},
			}
			for name, value := range r.Header.All() {
				k := textproto.CanonicalMIMEHeaderKey(string(name))
				if k == "Host" || k == "Transfer-Encoding" || k == "Trailer" {
					continue // net/http moves these out of the map
				}
				got.header[k] = append(got.header[k], string(value))
			}
		case http1.Body:
			body = append(body, p.Body()...)
		case http1.End:
			got.body = string(body)
			if r.Trailer.Len() > 0 {
				got.trailer = http.Header{}
				for name, value := range r.Trailer.All() {
					got.trailer.Add(string(name), string(value))
				}
			}
			if off != len(b) {
				t.Fatalf("http1: %d bytes left after the request", len(b)-off)
			}
			return got
		}
	}
}

func parseNetHTTP(t *testing.T, in string) parsed {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(in)))
	if err != nil {
		t.Fatalf("net/http: %v", err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatalf("net/http body: %v", err)
	}
	got := parsed{
		method:        req.Method,
		target:        req.RequestURI,
		host:          req.Host,
		proto:         req.Proto,
		close:         req.Close,
		contentLength: req.ContentLength,
		header:        req.Header,
		body:          string(body),
	}
	if len(req.Trailer) > 0 {
		got.trailer = req.Trailer
	}
	// net/http moves a non-empty Trailer field out of the header; compare
	// without it either way.
	req.Header.Del("Trailer")
	return got
}

func TestNetHTTP(t *testing.T) {
	for _, in := range validRequests {
		t.Run(strings.Fields(in)[0]+" "+strings.Fields(in)[1], func(t *testing.T) {
			ours, theirs := parseOurs(t, in), parseNetHTTP(t, in)
			if ours.method != theirs.method || ours.target != theirs.target || ours.host != theirs.host ||
				ours.proto != theirs.proto || ours.close != theirs.close ||
				ours.contentLength != theirs.contentLength || ours.body != theirs.body {
				t.Errorf("got  %+v\nwant %+v", ours, theirs)
			}
			if !equalHeader(ours.header, theirs.header) {
				t.Errorf("header: got %v, want %v", ours.header, theirs.header)
			}
			if !equalHeader(ours.trailer, theirs.trailer) {
				t.Errorf("trailer: got %v, want %v", ours.trailer, theirs.trailer)
			}
		})
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestNetHTTPRejects checks that requests http.ReadRequest refuses are
// refused here too. (ReadRequest leaves some checks, such as a missing Host,
// to the server, so the reverse does not hold.)
func TestNetHTTPRejects(t *testing.T) {
	for _, in := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
		"G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		_, theirs := http.ReadRequest(bufio.NewReader(strings.NewReader(in)))
		var p http1.Parser
		_, _, ours := p.Next([]byte(in))
		if theirs == nil || ours == nil {
			t.Errorf("%q: net/http error %v, http1 error %v; want both to refuse", in, theirs, ours)
		}
	}
}

// FuzzNetHTTP checks that every single request the parser accepts is read
// the same way by http.ReadRequest.
func FuzzNetHTTP(f *testing.F) {
	for _, in := range validRequests {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// Empty lines before the request line are skipped here (RFC 9112
		// §2.2) and refused by net/http.
		if !acceptsOne(in) || bytes.HasPrefix(in, []byte("\r\n")) {
			return
		}
		ours, theirs := parseOurs(t, string(in)), parseNetHTTP(t, string(in))
		if ours.method != theirs.method || ours.target != theirs.target || ours.host != theirs.host ||
			ours.proto != theirs.proto || ours.close != theirs.close ||
			ours.contentLength != theirs.contentLength || ours.body != theirs.body {
			t.Errorf("got  %+v\nwant %+v", ours, theirs)
		}
		if !equalHeader(ours.header, theirs.header) {
			t.Errorf("header: got %v, want %v", ours.header, theirs.header)
		}
	})
}

// acceptsOne reports whether in is exactly one request the parser accepts.
func acceptsOne(in []byte) bool {
	var p http1.Parser
	for off := 0; ; {
		n, ev, err := p.Next(in[off:])
		if err != nil {
			return false
		}
		off += n
		switch ev {
		case http1.NeedMore:
			return false
		case http1.End:
			return off == len(in)
		}
	}
}

// BenchmarkNetHTTP is the yardstick for BenchmarkParse: http.ReadRequest on
// the same typical GET.
func BenchmarkNetHTTP(b *testing.B) {
	in := "GET /static/app.css?v=3 HTTP/1.1\r\n" +
		"Host: localhost:8080\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
		"Accept: text/css,*/*;q=0.1\r\n" +
		"Accept-Language: en-US,en;q=0.5\r\n" +
		"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
		"Connection: keep-alive\r\n" +
		"Referer: http://localhost:8080/\r\n" +
		"Sec-Fetch-Dest: style\r\n" +
		"If-None-Match: \"17f3a2b4c5d6e7f8-400\"\r\n" +
		"\r\n"
	sr := strings.NewReader(in)
	br := bufio.NewReader(sr)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		sr.Reset(in)
		br.Reset(sr)
		if _, err := http.ReadRequest(br); err != nil {
			b.Fatal(err)
		}
	}
}
