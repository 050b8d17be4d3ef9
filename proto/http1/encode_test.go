package http1

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestAppendStatusLine(t *testing.T) {
	for _, tc := range []struct {
		code int
		want string
	}{
		{200, "HTTP/1.1 200 OK\r\n"},
		{404, "HTTP/1.1 404 Not Found\r\n"},
		{413, "HTTP/1.1 413 Content Too Large\r\n"},
		{431, "HTTP/1.1 431 Request Header Fields Too Large\r\n"},
		{505, "HTTP/1.1 505 HTTP Version Not Supported\r\n"},
		{299, "HTTP/1.1 299 \r\n"},
		{799, "HTTP/1.1 799 \r\n"},
	} {
		if got := string(AppendStatusLine([]byte("x"), tc.code)); got != "x"+tc.want {
			t.Errorf("AppendStatusLine(%d) = %q, want %q", tc.code, got, "x"+tc.want)
		}
	}
}

func TestAppendHeaders(t *testing.T) {
	var b []byte
	b = AppendHeader(b, "Content-Type", "text/html")
	b = AppendHeaderBytes(b, "X-Echo", []byte("v"))
	b = AppendContentLength(b, 1024)
	b = AppendHeaderInt(b, "X-Neg", -3)
	b = AppendContinue(b)
	want := "Content-Type: text/html\r\nX-Echo: v\r\nContent-Length: 1024\r\nX-Neg: -3\r\nHTTP/1.1 100 Continue\r\n\r\n"
	if string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
}

func TestAppendHTTPDate(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 999, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 0, time.FixedZone("X", -5*3600)),
		time.Date(2000, 2, 29, 12, 5, 9, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		want := tm.UTC().Format(TimeFormat)
		if got := string(AppendHTTPDate(nil, tm)); got != want {
			t.Errorf("AppendHTTPDate(%v) = %q, want %q", tm, got, want)
		}
	}
	got := string(AppendDate(nil, time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)))
	if want := "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"; got != want {
		t.Errorf("AppendDate = %q, want %q", got, want)
	}
}

func TestParseHTTPDate(t *testing.T) {
	want := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"Sun, 06 Nov 1994 08:49:37 GMT", true},
		{"Sunday, 06-Nov-94 08:49:37 GMT", true},
		{"Sun Nov  6 08:49:37 1994", true},
		{"Sun, 06 Nov 1994 08:49:37 UTC", false},
		{"Sun, 31 Feb 1994 08:49:37 GMT", false},
		{"Sun, 06 Nox 1994 08:49:37 GMT", false},
		{"Sun, 06 Nov 1994 24:49:37 GMT", false},
		{"", false},
	} {
		got, ok := ParseHTTPDate([]byte(tc.in))
		if ok != tc.ok || ok && !got.Equal(want) {
			t.Errorf("ParseHTTPDate(%q) = %v, %t; want %v, %t", tc.in, got, ok, want, tc.ok)
		}
	}
}

func TestAppendError(t *testing.T) {
	date := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	got := string(AppendError(nil, 405, date, "GET, HEAD"))
	want := "HTTP/1.1 405 Method Not Allowed\r\n" +
		"Date: Sun, 22 Nov 2026 08:00:00 GMT\r\n" +
		"Allow: GET, HEAD\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Connection: close\r\n" +
		"Content-Length: 19\r\n" +
		"\r\n" +
		"Method Not Allowed\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	got = string(AppendError(nil, 400, time.Time{}, ""))
	if !strings.HasPrefix(got, "HTTP/1.1 400 Bad Request\r\nContent-Type") || !strings.HasSuffix(got, "\r\n\r\nBad Request\n") {
		t.Errorf("got %q", got)
	}
}

func TestETag(t *testing.T) {
	mtime := time.Unix(1700000000, 5)
	etag := AppendETag(nil, 1024, mtime)
	if string(etag) != `"17979cfe362a0005-400"` {
		t.Errorf("AppendETag = %s", etag)
	}
	if other := AppendETag(nil, 1025, mtime); bytes.Equal(other, etag) {
		t.Error("size change kept the ETag")
	}
	for _, tc := range []struct {
		inm  string
		want bool
	}{
		{`"17979cfe362a0005-400"`, true},
		{`W/"17979cfe362a0005-400"`, true},
		{`"a", "17979cfe362a0005-400"`, true},
		{`"a",W/"17979cfe362a0005-400" ,"b"`, true},
		{`*`, true},
		{`"a", "b"`, false},
		{`17979cfe362a0005-400`, false},
		{`"17979cfe362a0005-400`, false},
		{``, false},
	} {
		if got := ETagMatch([]byte(tc.inm), etag); got != tc.want {
			t.Errorf("ETagMatch(%q) = %t, want %t", tc.inm, got, tc.want)
		}
	}
}

// TestChunkedRoundTrip encodes a body with the chunked helpers and parses it
// back.
func TestChunkedRoundTrip(t *testing.T) {
	parts := []string{"hello", "", ", ", strings.Repeat("x", 300), "!"}
	var enc bytes.Buffer
	w := &ChunkWriter{W: &enc}
	for _, s := range parts {
		if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var app []byte
	for _, s := range parts {
		app = AppendChunk(app, []byte(s))
	}
	app = AppendLastChunk(app)
	if !bytes.Equal(app, enc.Bytes()) {
		t.Fatalf("AppendChunk gave %q, ChunkWriter %q", app, enc.Bytes())
	}
	in := append([]byte("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"), app...)
	tr := feed(t, Limits{}, [][]byte{in})
	want := "POST / HTTP/1.1 host=h path=/ cl=-1 ka=true chunked\nend body=" + `"hello, ` + strings.Repeat("x", 300) + `!"`
	if tr.String() != want {
		t.Errorf("got\n%s\nwant\n%s", tr, want)
	}
}

func TestEncodeAllocs(t *testing.T) {
	now := time.Now()
	dst := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		dst = AppendStatusLine(dst[:0], 200)
		dst = AppendDate(dst, now)
		dst = AppendContentLength(dst, 1024)
		dst = AppendHeaderTime(dst, "Last-Modified", now)
		dst = AppendETag(dst, 1024, now)
		dst = AppendChunk(dst, []byte("abc"))
	})
	if allocs != 0 {
		t.Errorf("%v allocs per response head, want 0", allocs)
	}
}
