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
	"syscall"
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
		{[]string{"--root", "/nonexistent/dir", "--listen", "127.0.0.1:0"}, "portside http: --root /nonexistent/dir: no such directory; give --root a folder to serve\n"},
		{[]string{"--root", "http_test.go", "--listen", "127.0.0.1:0"}, "is a file, not a directory; give --root the folder that holds it\n"},
		{[]string{"--max-upload", "5XB"}, `invalid value "5XB" for flag --max-upload: bad size "5XB": want a positive number`},
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

// TestHTTPShutdownDuringUpload: SIGTERM while an upload's body is coming.
// The server reads on while it drains, so an upload that completes within
// --drain-timeout is stored and answered 201; one that cannot is answered
// 503 with Connection: close rather than cut off without a word. Either
// way the access log has its line and the process exits 0.
func TestHTTPShutdownDuringUpload(t *testing.T) {
	for _, finish := range []bool{true, false} {
		t.Run(fmt.Sprintf("finish=%t", finish), func(t *testing.T) { httpShutdownDuringUpload(t, finish) })
	}
}

func httpShutdownDuringUpload(t *testing.T, finish bool) {
	dir := t.TempDir()
	alog := filepath.Join(t.TempDir(), "access.log")
	drain := "60s"
	if !finish {
		drain = "2s"
	}
	cmd, addrs, errb := startCmd(t, []string{"http/http"}, "http", "--listen", "127.0.0.1:0", "--root", dir,
		"--upload", "--access-log", alog, "--log-level", "warn", "--drain-timeout", drain)
	c, err := net.Dial("tcp", addrs["http/http"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(c, "PUT /up.bin HTTP/1.1\r\nHost: x\r\nUser-Agent: slow-uploader\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n")
	br := bufio.NewReader(c)
	// 100 Continue: the head passed, the body is being read.
	if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("want 100 Continue, got %q", line)
	}
	br.ReadString('\n')
	io.WriteString(c, strings.Repeat("u", 10000))

	cmd.Process.Signal(syscall.SIGTERM)
	if finish {
		io.WriteString(c, strings.Repeat("u", 990000))
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to the upload in flight: %v", err)
	}
	resp.Body.Close()
	want := 503
	if finish {
		want = 201
	}
	if resp.StatusCode != want || !finish && !resp.Close {
		t.Errorf("upload in flight at shutdown: %d, close %t; want %d", resp.StatusCode, resp.Close, want)
	}
	waitExit(t, cmd, errb)
	b, _ := os.ReadFile(alog)
	if !strings.Contains(string(b), fmt.Sprintf(`"PUT /up.bin HTTP/1.1" %d `, want)) || !strings.Contains(string(b), `"slow-uploader"`) {
		t.Errorf("access log:\n%s", b)
	}
	ents, _ := os.ReadDir(dir)
	switch {
	case finish && (len(ents) != 1 || ents[0].Name() != "up.bin"):
		t.Errorf("in the root: %v, want up.bin", ents)
	case !finish && len(ents) != 0:
		t.Errorf("left in the root: %v", ents)
	}
}

// TestHTTPRefusalLogged: connections turned away at --max-conns are
// logged, naming the service once, and at most a line a second.
func TestHTTPRefusalLogged(t *testing.T) {
	dir := t.TempDir()
	cmd, addrs, errb := startCmd(t, []string{"http/http"}, "http", "--listen", "127.0.0.1:0", "--root", dir,
		"--max-conns", "1", "--access-log", "off", "--log-level", "warn")
	addr := addrs["http/http"]
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	first.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(first, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(first), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	start := time.Now()
	const refusals = 6
	for i := range refusals {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		if !strings.HasPrefix(string(b), "HTTP/1.1 503 ") {
			t.Errorf("connection %d beyond --max-conns: %q", i, b)
		}
	}
	elapsed := time.Since(start)
	first.Close()
	stopCmd(t, cmd, errb)
	var lines []string
	for _, l := range strings.Split(errb.String(), "\n") {
		if strings.Contains(l, "connection refused") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("no line for the refusals; stderr:\n%s", errb.String())
	}
	if most := 1 + int(elapsed/time.Second); len(lines) > most {
		t.Errorf("%d lines for %d refusals in %v, want at most %d:\n%s", len(lines), refusals, elapsed, most, strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		if n := strings.Count(l, "service=http"); n != 1 || !strings.Contains(l, "remote_addr=127.0.0.1:") {
			t.Errorf("line %q: want service=http once and the remote address", l)
		}
	}
}
