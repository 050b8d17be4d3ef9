package httpd_test

import (
	"bytes"
	"compress/gzip"
	"github.com/portside/portside/internal/testkit"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/portside/portside/httpd"
)

func decode(t *testing.T, coding string, b []byte) string {
	t.Helper()
	var r io.Reader
	switch coding {
	case "":
		return string(b)
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("unknown coding %q", coding)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding %s: %v", coding, err)
	}
	return string(out)
}

func TestCompression(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		css := strings.Repeat("body { color: red; }\n", 200)
		bigJS := strings.Repeat("function f(x) { return x * 2; }\n", 20000) // beyond the memory cache
		dir := tree(t, map[string]string{
			"style.css": css, "tiny.css": "a{}", "img.png": strings.Repeat("\x89PNG", 1000), "app.js": bigJS,
		})
		base := "http://" + serve(t, name, httpd.Options{Root: dir, Compress: true})
		for _, tc := range []struct {
			name, path, accept, coding string
		}{
			{"br preferred", "/style.css", "gzip, deflate, br, zstd", "br"},
			{"q values", "/style.css", "br;q=0.5, gzip;q=0.9, zstd;q=0.1", "gzip"},
			{"zstd", "/style.css", "zstd", "zstd"},
			{"star", "/style.css", "*", "br"},
			{"refused br", "/style.css", "br;q=0, gzip", "gzip"},
			{"identity only", "/style.css", "identity", ""},
			{"none", "/style.css", "", ""},
			{"below the floor", "/tiny.css", "gzip", ""},
			{"not a text type", "/img.png", "gzip, br", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var hdr []string
				if tc.accept != "" {
					hdr = append(hdr, "Accept-Encoding: "+tc.accept)
				}
				resp := get(t, base+tc.path, hdr...)
				wantStatus(t, resp, 200)
				if got := resp.Header.Get("Content-Encoding"); got != tc.coding {
					t.Errorf("Content-Encoding %q, want %q", got, tc.coding)
				}
				b, _ := io.ReadAll(resp.Body)
				want, _ := os.ReadFile(filepath.Join(dir, tc.path))
				if got := decode(t, tc.coding, b); got != string(want) {
					t.Errorf("decoded body differs (%d bytes, want %d)", len(got), len(want))
				}
				if tc.path == "/style.css" && resp.Header.Get("Vary") != "Accept-Encoding" {
					t.Errorf("Vary %q, want Accept-Encoding", resp.Header.Get("Vary"))
				}
				if tc.coding != "" && resp.ContentLength >= int64(len(want)) {
					t.Errorf("compressed Content-Length %d, not below %d", resp.ContentLength, len(want))
				}
			})
		}
		// A range is served from the file as it is, never compressed.
		resp := get(t, base+"/style.css", "Accept-Encoding: gzip", "Range: bytes=0-3")
		wantStatus(t, resp, 206)
		if resp.Header.Get("Content-Encoding") != "" || body(t, resp) != "body" {
			t.Errorf("range with Accept-Encoding: %q encoded %q", body(t, resp), resp.Header.Get("Content-Encoding"))
		}
		// A large file is compressed in the background: sent as it is
		// until the copy is ready, then compressed.
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp := get(t, base+"/app.js", "Accept-Encoding: gzip")
			b, _ := io.ReadAll(resp.Body)
			coding := resp.Header.Get("Content-Encoding")
			if got := decode(t, coding, b); got != bigJS {
				t.Fatalf("app.js (%q) decoded to %d bytes, want %d", coding, len(got), len(bigJS))
			}
			if coding == "gzip" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("app.js never served compressed")
			}
			time.Sleep(10 * time.Millisecond) // polling for a background job, with a deadline
		}
	})
}

// TestSidecars: name.br, name.zst and name.gz are served to clients that
// accept them, unless older than the file.
func TestSidecars(t *testing.T) {
	text := strings.Repeat("sidecar text ", 500)
	dir := tree(t, map[string]string{"a.txt": text, "b.txt": text})
	write := func(name string, coding string) {
		var buf bytes.Buffer
		switch coding {
		case "gzip":
			zw := gzip.NewWriter(&buf)
			io.WriteString(zw, text)
			zw.Close()
		case "br":
			zw := brotli.NewWriter(&buf)
			io.WriteString(zw, text)
			zw.Close()
		}
		os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644)
	}
	write("a.txt.gz", "gzip")
	write("a.txt.br", "br")
	write("b.txt.gz", "gzip")
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(dir, "b.txt.gz"), old, old)                // stale
	base := "http://" + serve(t, "goroutine", httpd.Options{Root: dir}) // on-the-fly compression off
	for _, tc := range []struct{ path, accept, coding string }{
		{"/a.txt", "gzip, br", "br"},
		{"/a.txt", "gzip", "gzip"},
		{"/a.txt", "zstd", ""},
		{"/b.txt", "gzip", ""},
	} {
		resp := get(t, base+tc.path, "Accept-Encoding: "+tc.accept)
		b, _ := io.ReadAll(resp.Body)
		if got := resp.Header.Get("Content-Encoding"); got != tc.coding {
			t.Errorf("%s with %q: Content-Encoding %q, want %q", tc.path, tc.accept, got, tc.coding)
		}
		if decode(t, tc.coding, b) != text {
			t.Errorf("%s with %q: body differs", tc.path, tc.accept)
		}
		if resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("%s: no Vary", tc.path)
		}
	}
}

// curl runs curl with args and returns its stdout.
func curl(t *testing.T, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (scripts/test installs it)")
	}
	cmd := exec.CommandContext(t.Context(), path, append([]string{"-sS", "--max-time", "30"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// TestCurl drives the server with curl: ranges, conditionals, compression
// and uploads as a real client does them.
func TestCurl(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		dir := staticTree(t)
		os.MkdirAll(filepath.Join(dir, "up"), 0o755)
		base := "http://" + serve(t, name, httpd.Options{Root: dir, Compress: true, Upload: true, Auth: "ann:pw"})

		if got := curl(t, "-r", "0-4", base+"/hello.txt"); got != "hello" {
			t.Errorf("curl -r 0-4: %q", got)
		}
		if got := curl(t, "-r", "-6", base+"/big.bin"); got != bigBody[len(bigBody)-6:] {
			t.Errorf("curl -r -6: %q", got)
		}
		multi := curl(t, "-i", "-r", "0-1,5-6", base+"/hello.txt")
		if !strings.Contains(multi, "multipart/byteranges") || !strings.Contains(multi, "Content-Range: bytes 5-6/13") {
			t.Errorf("curl -r 0-1,5-6:\n%s", multi)
		}
		// -z sends If-Modified-Since with the file's own time: 304, empty.
		code := curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-z", time.Now().UTC().Format(http.TimeFormat), base+"/hello.txt")
		if code != "304" {
			t.Errorf("curl -z now: %s, want 304", code)
		}
		code = curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-z", "1 Jan 2000", base+"/hello.txt")
		if code != "200" {
			t.Errorf("curl -z 2000: %s, want 200", code)
		}
		etag := curl(t, "-o", "/dev/null", "-w", "%header{etag}", base+"/hello.txt")
		code = curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-H", "If-None-Match: "+etag, base+"/hello.txt")
		if code != "304" {
			t.Errorf("If-None-Match %s: %s, want 304", etag, code)
		}
		// --compressed asks for what curl can decode and decodes it.
		css, _ := os.ReadFile(filepath.Join(dir, "style.css"))
		if got := curl(t, "--compressed", base+"/style.css"); got != string(css) {
			t.Errorf("curl --compressed: %d bytes, want %d", len(got), len(css))
		}
		enc := curl(t, "-o", "/dev/null", "-w", "%header{content-encoding}", "--compressed", base+"/style.css")
		if enc == "" {
			t.Errorf("curl --compressed got no Content-Encoding")
		}
		// Uploads: PUT with -T (which sends Expect: 100-continue for large
		// files), and the form with -F.
		src := filepath.Join(t.TempDir(), "src.bin")
		os.WriteFile(src, []byte(bigBody), 0o644)
		if code := curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-T", src, base+"/up/put.bin"); code != "401" {
			t.Errorf("curl -T without auth: %s, want 401", code)
		}
		if code := curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-u", "ann:pw", "-T", src, base+"/up/put.bin"); code != "201" {
			t.Errorf("curl -T: %s, want 201", code)
		}
		if got := readFile(t, filepath.Join(dir, "up", "put.bin")); got != bigBody {
			t.Errorf("curl -T stored %d bytes, want %d", len(got), len(bigBody))
		}
		out := curl(t, "-u", "ann:pw", "-F", "file=@"+src+";filename=form.bin", "-F", "note=hi", base+"/up/")
		if out != "stored   /up/form.bin (640 KiB)\n" {
			t.Errorf("curl -F: %q", out)
		}
		if got := readFile(t, filepath.Join(dir, "up", "form.bin")); got != bigBody {
			t.Errorf("curl -F stored %d bytes, want %d", len(got), len(bigBody))
		}
	})
}
