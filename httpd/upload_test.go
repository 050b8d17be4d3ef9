package httpd_test

import (
	"bufio"
	"bytes"
	"fmt"
	"github.com/portside/portside/internal/testkit"
	"hash/crc32"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portside/portside/httpd"
)

func uploadServer(t *testing.T, name string, o httpd.Options) (base, dir string) {
	t.Helper()
	dir = tree(t, map[string]string{"existing.txt": "old", "in/": ""})
	o.Root, o.Upload = dir, true
	return "http://" + serve(t, name, o), dir
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noTempFiles checks that no half-written upload was left behind.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), ".upload-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

func TestPut(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		base, dir := uploadServer(t, name, httpd.Options{MaxUpload: 1 << 20})
		for _, tc := range []struct {
			name, path, body string
			hdr              []string
			status           int
		}{
			{"create", "/new.txt", "new file", nil, 201},
			{"in a directory", "/in/deep.txt", "deep", nil, 201},
			{"exists", "/existing.txt", "clobber", nil, 409},
			{"missing directory", "/nope/x.txt", "x", nil, 404},
			{"directory", "/in/", "x", nil, 405},
			{"dotfile", "/.htaccess", "x", nil, 403},
			{"too large", "/big.txt", strings.Repeat("x", 1<<20+1), nil, 413},
			{"empty", "/empty.txt", "", nil, 201},
			{"traversal", "/../x.txt", "x", nil, 400},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp := do(t, "PUT", base+tc.path, strings.NewReader(tc.body), tc.hdr...)
				wantStatus(t, resp, tc.status)
				if tc.status == 201 {
					if got := readFile(t, filepath.Join(dir, filepath.FromSlash(tc.path))); got != tc.body {
						t.Errorf("stored %q, want %q", got, tc.body)
					}
					if got := body(t, get(t, base+tc.path)); got != tc.body {
						t.Errorf("GET after PUT: %q, want %q", got, tc.body)
					}
				}
			})
		}
		if got := readFile(t, filepath.Join(dir, "existing.txt")); got != "old" {
			t.Errorf("existing.txt overwritten: %q", got)
		}
		noTempFiles(t, dir)
	})
}

func TestPutOverwriteAndChunked(t *testing.T) {
	base, dir := uploadServer(t, "goroutine", httpd.Options{Overwrite: true})
	resp := do(t, "PUT", base+"/existing.txt", strings.NewReader("replaced"))
	wantStatus(t, resp, 200)
	if got, want := body(t, resp), "replaced /existing.txt (8 B)\n"; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
	if got := readFile(t, filepath.Join(dir, "existing.txt")); got != "replaced" {
		t.Errorf("after overwrite: %q", got)
	}
	// A body of unknown length goes chunked.
	resp = do(t, "PUT", base+"/chunked.txt", io.MultiReader(strings.NewReader("chun"), strings.NewReader("ked")))
	wantStatus(t, resp, 201)
	if got := readFile(t, filepath.Join(dir, "chunked.txt")); got != "chunked" {
		t.Errorf("chunked upload stored %q", got)
	}
}

// TestExpectContinue: 100 Continue comes before the body is read, and a
// refused request gets its final status without the body being sent.
func TestExpectContinue(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		base, dir := uploadServer(t, name, httpd.Options{Auth: "ann:pw"})
		addr := strings.TrimPrefix(base, "http://")
		auth := "Authorization: Basic YW5uOnB3\r\n" // ann:pw

		c := dial(t, addr)
		fmt.Fprintf(c, "PUT /c.txt HTTP/1.1\r\nHost: x\r\n%sContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", auth)
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("first line %q, %v; want 100 Continue", line, err)
		}
		br.ReadString('\n') // the empty line
		io.WriteString(c, "hello")
		resp := readResponses(t, br, 1, "PUT")[0]
		wantStatus(t, resp, 201)
		if got := readFile(t, filepath.Join(dir, "c.txt")); got != "hello" {
			t.Errorf("stored %q", got)
		}

		for _, tc := range []struct {
			name, req string
			status    int
		}{
			{"no auth", "PUT /d.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", 401},
			{"exists", "PUT /existing.txt HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n", 409},
			{"too large", "PUT /e.txt HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 99999999999\r\nExpect: 100-continue\r\n\r\n", 413},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := dial(t, addr)
				io.WriteString(c, tc.req)
				resp := readResponses(t, bufio.NewReader(c), 1, "PUT")[0]
				wantStatus(t, resp, tc.status)
			})
		}
	})
}

func TestAuth(t *testing.T) {
	base, _ := uploadServer(t, "goroutine", httpd.Options{Auth: "ann:s3cret"})
	wantStatus(t, get(t, base+"/existing.txt"), 200) // reads are open
	resp := do(t, "PUT", base+"/a.txt", strings.NewReader("a"))
	wantStatus(t, resp, 401)
	if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic ") {
		t.Errorf("WWW-Authenticate %q", got)
	}
	withAuth := func(method, url, pass string, want int) {
		t.Helper()
		var body io.Reader
		if method == "PUT" {
			body = strings.NewReader("a")
		}
		req, _ := http.NewRequestWithContext(t.Context(), method, url, body)
		req.SetBasicAuth("ann", pass)
		resp, err := client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s %s with password %q: %d, want %d", method, url, pass, resp.StatusCode, want)
		}
	}
	withAuth("PUT", base+"/a.txt", "wrong", 401)
	withAuth("PUT", base+"/a.txt", "s3cret", 201)

	baseAll, _ := uploadServer(t, "goroutine", httpd.Options{Auth: "ann:s3cret", AuthAll: true})
	wantStatus(t, get(t, baseAll+"/existing.txt"), 401)
	withAuth("GET", baseAll+"/existing.txt", "s3cret", 200)
}

// form builds a multipart/form-data body of files (name → content) and a
// text field.
func form(t *testing.T, files [][2]string) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("note", "a field that is not a file")
	for _, f := range files {
		w, err := mw.CreateFormFile("file", f[0])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, f[1])
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func TestFormUpload(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		base, dir := uploadServer(t, name, httpd.Options{})
		big := strings.Repeat("0123456789", 100_000)
		ct, b := form(t, [][2]string{{"one.txt", "first"}, {"two.bin", big}, {`..\..\evil/../../three.txt`, "third"}, {"\x01.hidden\x7f", "h"}})
		resp := do(t, "POST", base+"/in/", b, "Content-Type: "+ct)
		wantStatus(t, resp, 201)
		if got, want := body(t, resp), "stored   /in/one.txt (5 B)\nstored   /in/two.bin (976 KiB)\nstored   /in/three.txt (5 B)\nstored   /in/hidden (1 B)\n"; got != want {
			t.Errorf("response %q, want %q", got, want)
		}
		for n, want := range map[string]string{"one.txt": "first", "two.bin": big, "three.txt": "third", "hidden": "h"} {
			if got := readFile(t, filepath.Join(dir, "in", n)); got != want {
				t.Errorf("%s: %d bytes, want %d", n, len(got), len(want))
			}
		}

		// A browser is sent back to the listing.
		ct, b = form(t, [][2]string{{"four.txt", "4"}})
		resp = do(t, "POST", base+"/in/", b, "Content-Type: "+ct, "Accept: text/html,*/*")
		wantStatus(t, resp, 303)
		if got := resp.Header.Get("Location"); got != "/in/" {
			t.Errorf("Location %q, want /in/", got)
		}

		for _, tc := range []struct {
			name   string
			files  [][2]string
			ctype  string
			status int
		}{
			{"exists", [][2]string{{"existing.txt", "x"}}, "", 409},
			{"no name left", [][2]string{{"../..", "x"}}, "", 400},
			{"not multipart", nil, "text/plain", 415},
			{"no boundary", nil, "multipart/form-data", 400},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ct, b := form(t, tc.files)
				if tc.ctype != "" {
					ct = tc.ctype
				}
				resp := do(t, "POST", base+"/", b, "Content-Type: "+ct)
				wantStatus(t, resp, tc.status)
			})
		}
		// A truncated form stores nothing of its last part.
		ct, b = form(t, [][2]string{{"cut.txt", strings.Repeat("c", 1000)}})
		cut := b.Bytes()[:b.Len()-100]
		resp = do(t, "POST", base+"/", bytes.NewReader(cut), "Content-Type: "+ct)
		wantStatus(t, resp, 400)
		if _, err := os.Stat(filepath.Join(dir, "cut.txt")); err == nil {
			t.Errorf("a truncated part was stored")
		}
		noTempFiles(t, dir)
	})
}

// patterned generates n bytes of a repeating pattern without holding them.
type patterned struct {
	n, off int64
	crc    uint32
}

func (p *patterned) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		b[i] = byte((p.off + int64(i)) * 131 >> 3)
	}
	p.off += int64(len(b))
	p.crc = crc32.Update(p.crc, crc32.IEEETable, b)
	return len(b), nil
}

// TestLargeUploadBoundedMemory streams 256 MiB through PUT and checks the
// heap stays small while it does: four times the bound it must stay under,
// which a server that buffered the body could not meet, at a size a busy
// machine streams well within the client's timeout.
func TestLargeUploadBoundedMemory(t *testing.T) {
	size := int64(256 << 20)
	if testing.Short() {
		size = 64 << 20
	}
	base, dir := uploadServer(t, "goroutine", httpd.Options{MaxUpload: 2 << 30})
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()
	src := &patterned{n: size}
	req, _ := http.NewRequestWithContext(t.Context(), "PUT", base+"/huge.bin", src)
	req.ContentLength = size
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	close(stop)
	<-sampled
	wantStatus(t, resp, 201)
	const limit = 64 << 20
	if p := peak.Load(); p > limit {
		t.Errorf("heap peaked at %d MiB during a %d MiB upload; want under %d MiB", p>>20, size>>20, limit>>20)
	} else {
		t.Logf("heap peak %d MiB during a %d MiB upload", p>>20, size>>20)
	}
	f, err := os.Open(filepath.Join(dir, "huge.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := crc32.NewIEEE()
	n, _ := io.Copy(h, f)
	if n != size || h.Sum32() != src.crc {
		t.Errorf("stored %d bytes crc %08x; sent %d crc %08x", n, h.Sum32(), size, src.crc)
	}
}
