package httpd_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/portside/portside/engine"
	"github.com/portside/portside/internal/testkit"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/httpd"
	"github.com/portside/portside/server"
)

// bigBody is larger than the cache keeps in memory, so it is sent with
// WriteFile.
var bigBody = strings.Repeat("0123456789abcdef", 40<<10) // 640 KiB

func staticTree(t *testing.T) string {
	t.Helper()
	dir := tree(t, map[string]string{
		"hello.txt":         "hello, world\n",
		"big.bin":           bigBody,
		"empty.txt":         "",
		"docs/index.html":   "<h1>docs</h1>\n",
		"files/b.txt":       "bb",
		"files/a.txt":       "a",
		"files/c.txt":       "cccc",
		"files/sub/":        "",
		"files/.hidden":     "secret",
		".env":              "SECRET=1",
		".git/config":       "[core]",
		"style.css":         strings.Repeat("body { color: red; }\n", 200),
		"page.html":         "<!doctype html><title>page</title>",
		"weird name é.txt":  "unicode",
		"nested/deep/x.txt": "x",
	})
	// A fixed mtime an hour ago, so dates compare as strong validators.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error {
		return os.Chtimes(p, old, old)
	})
	return dir
}

func TestGetHead(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		dir := staticTree(t)
		base := "http://" + serve(t, name, httpd.Options{Root: dir})
		for _, tc := range []struct {
			path, body, ctype string
		}{
			{"/hello.txt", "hello, world\n", "text/plain; charset=utf-8"},
			{"/big.bin", bigBody, "application/octet-stream"},
			{"/empty.txt", "", "text/plain; charset=utf-8"},
			{"/docs/", "<h1>docs</h1>\n", "text/html; charset=utf-8"},
			{"/weird%20name%20%C3%A9.txt", "unicode", "text/plain; charset=utf-8"},
			{"//nested///deep/./x.txt", "x", "text/plain; charset=utf-8"},
		} {
			t.Run(tc.path, func(t *testing.T) {
				resp := get(t, base+tc.path)
				wantStatus(t, resp, 200)
				if got := body(t, resp); got != tc.body {
					t.Errorf("body: got %d bytes %q, want %d bytes", len(got), trunc(got), len(tc.body))
				}
				if got := resp.Header.Get("Content-Type"); got != tc.ctype {
					t.Errorf("Content-Type %q, want %q", got, tc.ctype)
				}
				if et := resp.Header.Get("ETag"); !strings.HasPrefix(et, `W/"`) {
					t.Errorf("ETag %q, want a weak tag", et)
				}
				if resp.Header.Get("Last-Modified") == "" || resp.Header.Get("Date") == "" {
					t.Errorf("missing Last-Modified or Date: %v", resp.Header)
				}
				if got := resp.Header.Get("Accept-Ranges"); got != "bytes" {
					t.Errorf("Accept-Ranges %q, want bytes", got)
				}
				head := do(t, "HEAD", base+tc.path, nil)
				wantStatus(t, head, 200)
				if head.ContentLength != int64(len(tc.body)) {
					t.Errorf("HEAD Content-Length %d, want %d", head.ContentLength, len(tc.body))
				}
				if head.Header.Get("ETag") != resp.Header.Get("ETag") {
					t.Errorf("HEAD ETag %q, GET %q", head.Header.Get("ETag"), resp.Header.Get("ETag"))
				}
			})
		}
	})
}

// TestPipelined sends 16 requests in one write, small and large files and
// errors mixed, and expects the responses in order.
func TestPipelined(t *testing.T) {
	testkit.EachEngine(t, 0, func(t *testing.T, name string) {
		dir := staticTree(t)
		addr := serve(t, name, httpd.Options{Root: dir})
		paths := []string{"/hello.txt", "/big.bin", "/missing", "/docs/", "/files/a.txt", "/big.bin", "/.env", "/hello.txt"}
		want := map[string]struct {
			status int
			body   string
		}{
			"/hello.txt": {200, "hello, world\n"}, "/big.bin": {200, bigBody}, "/missing": {404, "Not Found\n"},
			"/docs/": {200, "<h1>docs</h1>\n"}, "/files/a.txt": {200, "a"}, "/.env": {404, "Not Found\n"},
		}
		var req strings.Builder
		var order []string
		for i := range 16 {
			p := paths[i%len(paths)]
			order = append(order, p)
			fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", p)
		}
		c := dial(t, addr)
		io.WriteString(c, req.String())
		br := bufio.NewReader(c)
		for i, resp := range readResponses(t, br, len(order), "GET") {
			w := want[order[i]]
			if b := body(t, resp); resp.StatusCode != w.status || b != w.body {
				t.Errorf("response %d (%s): %d %q, want %d %q", i, order[i], resp.StatusCode, trunc(b), w.status, trunc(w.body))
			}
		}
	})
}

func TestConditionals(t *testing.T) {
	dir := staticTree(t)
	base := "http://" + serve(t, engine.Default, httpd.Options{Root: dir})
	for _, file := range []string{"/hello.txt", "/big.bin"} {
		first := get(t, base+file)
		etag, lm := first.Header.Get("ETag"), first.Header.Get("Last-Modified")
		strong := strings.TrimPrefix(etag, "W/")
		past := time.Now().Add(-48 * time.Hour).UTC().Format(http.TimeFormat)
		future := time.Now().Add(48 * time.Hour).UTC().Format(http.TimeFormat)
		for _, tc := range []struct {
			name   string
			hdr    []string
			status int
		}{
			{"none", nil, 200},
			{"INM match", []string{"If-None-Match: " + etag}, 304},
			{"INM match strong form", []string{"If-None-Match: " + strong}, 304},
			{"INM list", []string{`If-None-Match: "x", ` + etag}, 304},
			{"INM star", []string{"If-None-Match: *"}, 304},
			{"INM mismatch", []string{`If-None-Match: "nope"`}, 200},
			{"IMS equal", []string{"If-Modified-Since: " + lm}, 304},
			{"IMS future", []string{"If-Modified-Since: " + future}, 304},
			{"IMS past", []string{"If-Modified-Since: " + past}, 200},
			{"IMS garbage", []string{"If-Modified-Since: yesterday"}, 200},
			{"INM wins over IMS", []string{`If-None-Match: "nope"`, "If-Modified-Since: " + lm}, 200},
			{"IM star", []string{"If-Match: *"}, 200},
			{"IM weak never matches", []string{"If-Match: " + etag}, 412},
			{"IM mismatch", []string{`If-Match: "nope"`}, 412},
			{"IUS past", []string{"If-Unmodified-Since: " + past}, 412},
			{"IUS equal", []string{"If-Unmodified-Since: " + lm}, 200},
			{"IM before INM", []string{`If-Match: "nope"`, "If-None-Match: " + etag}, 412},
			{"range", []string{"Range: bytes=0-3"}, 206},
			{"If-Range date", []string{"Range: bytes=0-3", "If-Range: " + lm}, 206},
			{"If-Range old date", []string{"Range: bytes=0-3", "If-Range: " + past}, 200},
			{"If-Range weak tag", []string{"Range: bytes=0-3", "If-Range: " + etag}, 200},
			{"INM before range", []string{"Range: bytes=0-3", "If-None-Match: " + etag}, 304},
		} {
			t.Run(file+"/"+tc.name, func(t *testing.T) {
				resp := get(t, base+file, tc.hdr...)
				wantStatus(t, resp, tc.status)
				b := body(t, resp)
				if tc.status == 304 {
					if b != "" || resp.Header.Get("ETag") != etag {
						t.Errorf("304: body %q, ETag %q; want none and %q", b, resp.Header.Get("ETag"), etag)
					}
				}
				if tc.status == 206 && len(b) != 4 {
					t.Errorf("206 body %q, want 4 bytes", b)
				}
			})
		}
	}
}

func TestRanges(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		dir := staticTree(t)
		base := "http://" + serve(t, name, httpd.Options{Root: dir, MaxRanges: 4})
		for _, file := range []string{"hello.txt", "big.bin"} {
			data, _ := os.ReadFile(filepath.Join(dir, file))
			size := int64(len(data))
			for _, tc := range []struct {
				rng    string
				status int
				parts  [][2]int64 // start, end inclusive
			}{
				{"bytes=0-4", 206, [][2]int64{{0, 4}}},
				{"bytes=-3", 206, [][2]int64{{size - 3, size - 1}}},
				{"bytes=5-", 206, [][2]int64{{5, size - 1}}},
				{"bytes=0-0,-1", 206, [][2]int64{{0, 0}, {size - 1, size - 1}}},
				{"bytes=1-2, 6-8, 10-10", 206, [][2]int64{{1, 2}, {6, 8}, {10, 10}}},
				{fmt.Sprintf("bytes=%d-", size), 416, nil},
				{"bytes=0-5,3-9", 200, nil},             // overlapping: whole file
				{"bytes=0-0,2-2,4-4,6-6,8-8", 200, nil}, // more than 4
				{"bytes=9-2", 200, nil},                 // malformed: ignored
				{"lines=1-2", 200, nil},                 // unknown unit
			} {
				t.Run(file+"/"+tc.rng, func(t *testing.T) {
					resp := get(t, base+"/"+file, "Range: "+tc.rng)
					wantStatus(t, resp, tc.status)
					b := body(t, resp)
					switch {
					case tc.status == 200:
						if b != string(data) {
							t.Errorf("200 body is %d bytes, want the whole %d", len(b), size)
						}
					case tc.status == 416:
						if got, want := resp.Header.Get("Content-Range"), fmt.Sprintf("bytes */%d", size); got != want {
							t.Errorf("Content-Range %q, want %q", got, want)
						}
					case len(tc.parts) == 1:
						p := tc.parts[0]
						if b != string(data[p[0]:p[1]+1]) {
							t.Errorf("body %q, want %q", trunc(b), trunc(string(data[p[0]:p[1]+1])))
						}
						if got, want := resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", p[0], p[1], size); got != want {
							t.Errorf("Content-Range %q, want %q", got, want)
						}
					default:
						checkMultipart(t, resp, b, data, tc.parts)
					}
				})
			}
		}
	})
}

func checkMultipart(t *testing.T, resp *http.Response, b string, data []byte, parts [][2]int64) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	if resp.ContentLength != int64(len(b)) {
		t.Errorf("Content-Length %d, body %d bytes", resp.ContentLength, len(b))
	}
	mr := multipart.NewReader(strings.NewReader(b), params["boundary"])
	for i, p := range parts {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		got, _ := io.ReadAll(part)
		if !bytes.Equal(got, data[p[0]:p[1]+1]) {
			t.Errorf("part %d: %q, want %q", i, got, data[p[0]:p[1]+1])
		}
		if cr, want := part.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", p[0], p[1], len(data)); cr != want {
			t.Errorf("part %d Content-Range %q, want %q", i, cr, want)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("after the parts: %v, want EOF", err)
	}
}

func TestDirectories(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		dir := staticTree(t)
		base := "http://" + serve(t, name, httpd.Options{Root: dir})

		resp := get(t, base+"/files?x=1")
		wantStatus(t, resp, 301)
		if got := resp.Header.Get("Location"); got != "/files/?x=1" {
			t.Errorf("Location %q, want /files/?x=1", got)
		}

		html := body(t, get(t, base+"/files/"))
		for _, want := range []string{"a.txt", "b.txt", "c.txt", "sub/", `href="?sort=size"`, "Parent directory"} {
			if !strings.Contains(html, want) {
				t.Errorf("listing lacks %q", want)
			}
		}
		if strings.Contains(html, ".hidden") {
			t.Errorf("listing shows a dotfile")
		}
		if strings.Contains(html, "<form") {
			t.Errorf("listing has an upload form with uploads off")
		}

		names := func(resp *http.Response) []string {
			t.Helper()
			wantStatus(t, resp, 200)
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q, want application/json", ct)
			}
			var l struct {
				Path    string
				Entries []struct {
					Name string
					Dir  bool
					Size int64
				}
			}
			if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range l.Entries {
				out = append(out, e.Name)
			}
			return out
		}
		for _, tc := range []struct {
			url  string
			hdr  []string
			want string
		}{
			{"/files/?format=json", nil, "sub a.txt b.txt c.txt"},
			{"/files/", []string{"Accept: application/json"}, "sub a.txt b.txt c.txt"},
			{"/files/?format=json&sort=size&order=desc", nil, "sub c.txt b.txt a.txt"},
			{"/files/?format=json&sort=name&order=desc", nil, "sub c.txt b.txt a.txt"},
		} {
			if got := strings.Join(names(get(t, base+tc.url, tc.hdr...)), " "); got != tc.want {
				t.Errorf("%s: entries %q, want %q", tc.url, got, tc.want)
			}
		}
	})
}

func TestDotfilesOption(t *testing.T) {
	dir := staticTree(t)
	base := "http://" + serve(t, engine.Default, httpd.Options{Root: dir, Dotfiles: true})
	resp := get(t, base+"/.env")
	wantStatus(t, resp, 200)
	if !strings.Contains(body(t, get(t, base+"/files/")), ".hidden") {
		t.Errorf("listing with dotfiles on lacks .hidden")
	}
}

func TestSPAAndNoListing(t *testing.T) {
	dir := tree(t, map[string]string{"index.html": "<app>", "assets/app.js": "js", "empty/": ""})
	base := "http://" + serve(t, engine.Default, httpd.Options{Root: dir, SPA: true, NoListing: true})
	for _, tc := range []struct {
		path   string
		hdr    []string
		status int
		body   string
	}{
		{"/settings/profile", nil, 200, "<app>"},
		{"/missing.js", nil, 404, "Not Found\n"},
		{"/missing.js", []string{"Accept: text/html"}, 200, "<app>"},
		{"/assets/app.js", nil, 200, "js"},
		{"/empty/", nil, 404, "Not Found\n"},
	} {
		resp := get(t, base+tc.path, tc.hdr...)
		if b := body(t, resp); resp.StatusCode != tc.status || b != tc.body {
			t.Errorf("%s: %d %q, want %d %q", tc.path, resp.StatusCode, b, tc.status, tc.body)
		}
	}
}

func TestMethodsAndCORS(t *testing.T) {
	dir := staticTree(t)
	addr := serve(t, engine.Default, httpd.Options{Root: dir, CORS: true, CacheMaxAge: time.Hour})
	base := "http://" + addr
	resp := get(t, base+"/hello.txt")
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin %q, want *", got)
	}
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=3600" {
		t.Errorf("Cache-Control %q", got)
	}
	for _, tc := range []struct {
		method string
		hdr    []string
		status int
		field  string
		want   string
	}{
		{"POST", nil, 405, "Allow", "GET, HEAD, OPTIONS"},
		{"DELETE", nil, 405, "Allow", "GET, HEAD, OPTIONS"},
		{"BREW", nil, 501, "", ""},
		{"OPTIONS", nil, 204, "Allow", "GET, HEAD, OPTIONS"},
		{"OPTIONS", []string{"Origin: http://a.example", "Access-Control-Request-Method: GET", "Access-Control-Request-Headers: range"},
			204, "Access-Control-Allow-Headers", "range"},
	} {
		resp := do(t, tc.method, base+"/hello.txt", nil, tc.hdr...)
		wantStatus(t, resp, tc.status)
		if tc.field != "" && resp.Header.Get(tc.field) != tc.want {
			t.Errorf("%s: %s %q, want %q", tc.method, tc.field, resp.Header.Get(tc.field), tc.want)
		}
	}
	// OPTIONS * asks about the server.
	if got := exchange(t, addr, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 204 ") {
		t.Errorf("OPTIONS *: %q", trunc(got))
	}
}

// TestFileChanges: the cache notices a file replaced, grown or removed
// within its TTL.
func TestFileChanges(t *testing.T) {
	dir := tree(t, map[string]string{"f.txt": "one"})
	var clock fakeClock
	clock.set(time.Now())
	addr, _ := serveHandler(t, engine.Default, httpd.Options{Root: dir, Now: clock.now, CacheTTL: time.Second}, server.Limits{})
	base := "http://" + addr
	if got := body(t, get(t, base+"/f.txt")); got != "one" {
		t.Fatalf("got %q", got)
	}
	os.WriteFile(filepath.Join(dir, "f.txt"), []byte("two!"), 0o644)
	clock.add(2 * time.Second)
	if got := body(t, get(t, base+"/f.txt")); got != "two!" {
		t.Errorf("after a change: %q, want two!", got)
	}
	os.Remove(filepath.Join(dir, "f.txt"))
	clock.add(2 * time.Second)
	wantStatus(t, get(t, base+"/f.txt"), 404)
}

// TestDeepPipelineOfLargeFiles: 40 pipelined requests for a file sent
// with sendfile are all answered, in order, though the server queues only
// a few files at a time.
func TestDeepPipelineOfLargeFiles(t *testing.T) {
	testkit.EachEngine(t, 0, func(t *testing.T, name string) {
		dir := staticTree(t)
		addr := serve(t, name, httpd.Options{Root: dir})
		c := dial(t, addr)
		const n = 40
		var req strings.Builder
		for i := range n {
			p := "/big.bin"
			if i%5 == 4 {
				p = "/hello.txt"
			}
			fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", p)
		}
		io.WriteString(c, req.String())
		c.(interface{ CloseWrite() error }).CloseWrite()
		for i, resp := range readResponses(t, bufio.NewReader(c), n, "GET") {
			want := bigBody
			if i%5 == 4 {
				want = "hello, world\n"
			}
			if b := body(t, resp); b != want {
				t.Fatalf("response %d: %d bytes, want %d", i, len(b), len(want))
			}
		}
	})
}

// TestRedirectStaysHere: the slash redirect names the cleaned path, so a
// target like //evil.example cannot send the client to another host.
func TestRedirectStaysHere(t *testing.T) {
	dir := tree(t, map[string]string{"evil.example/x": "x", "é dir/y": "y"})
	addr := serve(t, engine.Default, httpd.Options{Root: dir})
	for target, want := range map[string]string{
		"//evil.example":    "/evil.example/",
		"/./evil.example":   "/evil.example/",
		"/%C3%A9%20dir?a=b": "/%C3%A9%20dir/?a=b",
	} {
		got := exchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: x\r\n\r\n")
		if !strings.Contains(got, "\r\nLocation: "+want+"\r\n") {
			t.Errorf("GET %s: %q, want Location %s", target, trunc(got), want)
		}
	}
}

// TestLargeMultipartRanges: several ranges with over 1 MiB of file before
// the last part get the whole file; a large single range is served.
func TestLargeMultipartRanges(t *testing.T) {
	data := strings.Repeat("0123456789", 300_000) // 3 MB
	dir := tree(t, map[string]string{"f.bin": data})
	base := "http://" + serve(t, engine.Default, httpd.Options{Root: dir})
	resp := get(t, base+"/f.bin", "Range: bytes=0-2000000,2500000-2500010")
	wantStatus(t, resp, 200)
	if b := body(t, resp); b != data {
		t.Errorf("got %d bytes, want the whole %d", len(b), len(data))
	}
	resp = get(t, base+"/f.bin", "Range: bytes=100-2999999")
	wantStatus(t, resp, 206)
	if b := body(t, resp); b != data[100:] {
		t.Errorf("single large range: %d bytes", len(b))
	}
	resp = get(t, base+"/f.bin", "Range: bytes=0-9,2999990-")
	wantStatus(t, resp, 206)
	checkMultipart(t, resp, body(t, resp), []byte(data), [][2]int64{{0, 9}, {2999990, 2999999}})
}
