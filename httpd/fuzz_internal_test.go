package httpd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/server/servertest"
)

// fuzzHandler serves a small fixed tree with a pinned clock, so the same
// input always gets the same bytes back.
func fuzzHandler(tb testing.TB) *Handler {
	tb.Helper()
	dir := tb.TempDir()
	for name, content := range map[string]string{
		"a.txt":           "hello, world\n",
		"style.css":       strings.Repeat("body { color: red; }\n", 100),
		"docs/index.html": "<h1>docs</h1>",
		"files/b.bin":     strings.Repeat("b", 3000),
		".env":            "SECRET",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	old := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, old, old) })
	var rt Router
	rt.Handle("POST", "/echo", func(_ context.Context, w *ResponseWriter, r *Request) { w.Write(r.Body) })
	now := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
	h, err := New(Options{Root: dir, Compress: true, Routes: &rt, Now: func() time.Time { return now }, CacheTTL: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Stop() })
	return h
}

var fuzzSeeds = []string{
	"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /style.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, br\r\n\r\n",
	"GET /files/b.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9,100-199,-5\r\n\r\n",
	"GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: W/\"x\", *\r\n\r\n",
	"GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Tue, 02 Jan 2024 03:04:05 GMT\r\n\r\n",
	"GET /docs HTTP/1.1\r\nHost: x\r\n\r\nGET /files/?format=json&sort=size HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX: y\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
	"GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /.env HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
	"GET / HTTP/1.1\nHost: x\n\n",
	"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
}

// FuzzServe checks that the server never panics, and answers an input
// split in two exactly as it answers it whole.
func FuzzServe(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add([]byte(s), uint16(i*7))
	}
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		at := 0
		if len(in) > 0 {
			at = int(split) % (len(in) + 1)
		}
		servertest.Run(t, h, in, servertest.Splits(servertest.At(at)))
	})
}

// TestServeByteAtATime: the seeds answered one byte per Data call.
func TestServeByteAtATime(t *testing.T) {
	h := fuzzHandler(t)
	for _, s := range fuzzSeeds {
		whole := servertest.Run(t, h, []byte(s), servertest.Splits(servertest.Chunks(1)))
		if whole.Output == "" {
			t.Errorf("%q: no response", s)
		}
	}
}
