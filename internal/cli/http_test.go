package cli

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/engine"
)

func TestHTTP(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello\n"), 0o644)
	addrs := serve(t, []string{"http/http"}, "http", "--listen", "127.0.0.1:0", "--root", dir,
		"--upload", "--auth", "ann:pw", "--max-upload", "1KiB", "--access-log", "off")
	base := "http://" + addrs["http/http"]
	resp, err := http.Get(base + "/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello\n" {
		t.Errorf("GET: %d %q", resp.StatusCode, b)
	}
	for _, tc := range []struct {
		body   string
		auth   bool
		status int
	}{
		{"x", false, 401},
		{strings.Repeat("x", 1025), true, 413},
		{"uploaded", true, 201},
	} {
		req, _ := http.NewRequest("PUT", base+"/up.txt", strings.NewReader(tc.body))
		if tc.auth {
			req.SetBasicAuth("ann", "pw")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("PUT %d bytes (auth %t): %d, want %d", len(tc.body), tc.auth, resp.StatusCode, tc.status)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "up.txt")); string(got) != "uploaded" {
		t.Errorf("stored %q", got)
	}
}

func TestHTTPFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--auth-all"}, "--auth-all needs --auth"},
		{[]string{"--auth", "nopass"}, "--auth wants user:pass"},
		{[]string{"--max-upload", "lots"}, "bad size"},
		{[]string{"--root", "/nonexistent/dir", "--listen", "127.0.0.1:0"}, "not a directory"},
	} {
		code, _, errs := run(t, t.Context(), "", append([]string{"http"}, tc.args...)...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("http %v: exit %d, stderr %q; want failure saying %q", tc.args, code, errs, tc.want)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "1KiB": 1024, "64MiB": 64 << 20, "2GiB": 2 << 30, "1GB": 1e9, "10M": 10 << 20} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "-1", "0", "1.5GiB", "x"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) accepted", in)
		}
	}
}

// TestHTTPUnderEveryEngine runs portside http as a process under each
// engine, fork included, and fetches a small file (sent from memory) and
// a large one (sent with sendfile) on connections one after another.
func TestHTTPUnderEveryEngine(t *testing.T) {
	dir := t.TempDir()
	small, large := "small\n", strings.Repeat("L", 300<<10)
	os.WriteFile(filepath.Join(dir, "small.txt"), []byte(small), 0o644)
	os.WriteFile(filepath.Join(dir, "large.bin"), []byte(large), 0o644)
	for _, name := range engine.Names() {
		t.Run("engine="+name, func(t *testing.T) {
			addrs, stop := startProcess(t, []string{"http/http"}, "http", "--engine", name, "--root", dir,
				"--listen", "127.0.0.1:0", "--access-log", "off", "--log-level", "warn")
			for i, tc := range []struct{ path, want string }{{"/small.txt", small}, {"/large.bin", large}, {"/small.txt", small}} {
				c, err := net.Dial("tcp", addrs["http/http"])
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(30 * time.Second))
				fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", tc.path)
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				b, err := io.ReadAll(resp.Body)
				c.Close()
				if err != nil || resp.StatusCode != 200 || string(b) != tc.want {
					t.Errorf("request %d for %s: %d, %d bytes, %v", i, tc.path, resp.StatusCode, len(b), err)
				}
			}
			stop()
		})
	}
}
