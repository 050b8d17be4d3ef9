package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/portside/portside/bench"
	"github.com/portside/portside/internal/cli"
)

func portside(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Run(ctx, append([]string{"bench"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLIUsageErrors(t *testing.T) {
	const a = "127.0.0.1:9"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "missing echo, http or chat"},
		{[]string{"ftp", a}, `unknown mode "ftp"`},
		{[]string{"echo"}, "missing ADDR"},
		{[]string{"http"}, "missing URL"},
		{[]string{"echo", a, "b:2"}, `unexpected argument "b:2"`},
		{[]string{"echo", "-c", "0", a}, "-c 0: need at least one connection"},
		{[]string{"echo", "-c", "-3", a}, "-c -3"},
		{[]string{"echo", "--rate", "-5", a}, "--rate -5: must not be negative"},
		{[]string{"echo", "-n", "-1", a}, "-n -1"},
		{[]string{"echo", "-d", "0s", a}, "-d 0s: must be positive"},
		{[]string{"echo", "-d", "-1s", a}, "must be positive"},
		{[]string{"echo", "--warmup", "-1s", a}, "--warmup -1s"},
		{[]string{"echo", "--pipeline", "0", a}, "--pipeline 0"},
		{[]string{"echo", "--timeout", "0s", a}, "--timeout 0s"},
		{[]string{"echo", "--size", "0", a}, "--size 0"},
		{[]string{"echo", "--udp", "--size", "4", a}, "UDP message size"},
		{[]string{"echo", "--rounds", "-1", a}, "--rounds -1"},
		{[]string{"echo", "--cpus", "x", a}, "bad CPU list"},
		{[]string{"echo", "--server-pid", "abc", a}, `--server-pid "abc"`},
		{[]string{"echo", "notaport"}, "missing port"},
		{[]string{"echo", "--target", "x", a}, "give an address or --target"},
		{[]string{"echo", "--target", "noequals"}, "want NAME=ADDR"},
		{[]string{"echo", "--target", "a=" + a + "@x"}, `pid "x"`},
		{[]string{"echo", "--target", "a=" + a, "--target", "a=" + a}, "used twice"},
		{[]string{"http", "https://127.0.0.1/"}, "only http:// URLs"},
		{[]string{"http", "--keepalive=false", "--pipeline", "4", "http://127.0.0.1/"}, "pipelining needs keep-alive"},
		{[]string{"http", "--path", "nope", "http://127.0.0.1/"}, "want /something"},
		{[]string{"http", "--header", "novalue", "http://127.0.0.1/"}, "want Name: value"},
		{[]string{"http", "--body", "a", "--body-file", "f", "http://127.0.0.1/"}, "exclude each other"},
		{[]string{"echo", "--no-such-flag", a}, "flag provided but not defined"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, errs := portside(t, t.Context(), tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr %q", code, errs)
			}
			if !strings.Contains(errs, tc.want) {
				t.Errorf("stderr %q does not say %q", errs, tc.want)
			}
		})
	}
}

func TestCLIUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, args := range [][]string{{"echo", addr}, {"http", "http://" + addr + "/"}} {
		code, out, errs := portside(t, t.Context(), args...)
		if code != 1 || !strings.Contains(errs, "connection refused") || !strings.Contains(errs, addr) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 1 and a clear message", args, code, out, errs)
		}
	}
}

func TestCLIEcho(t *testing.T) {
	addr := startEcho(t)
	dir := t.TempDir()
	html := filepath.Join(dir, "r.html")
	// Flags after the address work too.
	code, out, errs := portside(t, t.Context(), "echo", addr, "-c", "2", "-n", "300", "--warmup", "0s", "--json", "--html", html,
		"--server-pid", itoa(os.Getpid()))
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json printed %q: %v", out, err)
	}
	if rep.Schema != bench.Schema || rep.Targets[0].Requests != 300 || rep.Targets[0].Server == nil {
		t.Errorf("report %+v", rep)
	}
	if b, err := os.ReadFile(html); err != nil || !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("html report: %v", err)
	}
	if errs != "HTML report written to "+html+"\n" {
		t.Errorf("stderr %q: want where the HTML report went, and no progress line when not a terminal", errs)
	}
}

// TestCLIServerGone: the target stops mid-run; the report is printed, and
// the exit status says requests failed.
func TestCLIServerGone(t *testing.T) {
	var srv *rawServer
	gone := make(chan struct{})
	srv, addr := startRaw(t, func(c net.Conn) {
		echoWith(c, func(off int64, b []byte) {
			if off > 20_000 {
				select {
				case <-gone:
				default:
					close(gone)
				}
			}
		})
	})
	go func() {
		<-gone
		srv.stop()
	}()
	code, out, errs := portside(t, t.Context(), "echo", "-c", "2", "-d", "300ms", "--warmup", "0s", addr)
	if code != 1 || !strings.Contains(errs, "msgs failed: closed ") {
		t.Errorf("exit %d, stderr %q; want 1 and the failures counted", code, errs)
	}
	if !strings.Contains(out, "errors      ") || !strings.Contains(out, "msg/s") {
		t.Errorf("no report with errors:\n%s", out)
	}
}

func TestCLIInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var once sync.Once
	_, addr := startRaw(t, func(c net.Conn) {
		// Ctrl-C once load flows.
		echoWith(c, func(int64, []byte) { once.Do(cancel) })
	})
	code, out, errs := portside(t, ctx, "echo", "-d", "1m", "--warmup", "0s", addr)
	if code != 1 || !strings.Contains(errs, "interrupted") || !strings.Contains(out, "msg/s") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, a partial report and a word about it", code, out, errs)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestCLIHTTPFiles(t *testing.T) {
	srv := startHTTP(t)
	dir := t.TempDir()
	paths := filepath.Join(dir, "paths")
	body := filepath.Join(dir, "body")
	os.WriteFile(paths, []byte("# paths in rotation\n/post\n\n/post\n"), 0o644)
	os.WriteFile(body, []byte("hello"), 0o644)
	code, out, errs := portside(t, t.Context(), "http", "-c", "1", "-n", "40", "--warmup", "0s", "--method", "post",
		"--paths-file", paths, "--body-file", body, "--header", "X-Test: 1", srv.url)
	if code != 0 {
		t.Fatalf("exit %d, stdout %s, stderr %q", code, out, errs)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.hits["/post"] != 40 {
		t.Errorf("hits %v, want 40 POSTs to /post", srv.hits)
	}
}

// TestCLIStarvation: portside bench against the iterative engine names the
// target by its address, counts the starved connections' messages as
// unanswered, exits 1, and says where it wrote the HTML report; against
// the epoll engine it exits 0.
func TestCLIStarvation(t *testing.T) {
	for _, tc := range []struct {
		engine string
		code   int
	}{
		{"iterative", 1},
		{"epoll", 0},
	} {
		t.Run(tc.engine, func(t *testing.T) {
			addr := startEchoOn(t, tc.engine)
			html := filepath.Join(t.TempDir(), "r.html")
			timeout := "2s"
			if tc.code == 0 {
				timeout = "20s"
			}
			code, out, errs := portside(t, t.Context(), "echo", "-c", "8", "-d", "1s", "--warmup", "0s", "--timeout", timeout, "--html", html, addr)
			t.Logf("stdout:\n%s\nstderr:\n%s", out, errs)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if !strings.Contains(out, "\n  "+addr+"  ") {
				t.Errorf("the table does not name the target by its address %s", addr)
			}
			if strings.Contains(out, "\ntarget ") || strings.Contains(out, " target (") {
				t.Errorf("the target is called \"target\"")
			}
			if !strings.Contains(errs, "HTML report written to "+html) {
				t.Errorf("stderr does not say where the HTML report went")
			}
			page, err := os.ReadFile(html)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(page, []byte("<title>portside bench echo: "+addr+"</title>")) {
				t.Errorf("the HTML title does not name the address")
			}
			if tc.code == 1 && (!strings.Contains(errs, "unanswered 7") || !strings.Contains(out, "starved")) {
				t.Errorf("want the 7 unanswered messages in the error and the starvation in the report")
			}
		})
	}
}
