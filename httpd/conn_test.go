package httpd_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/portside/portside/internal/testkit"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/httpd"
	"github.com/portside/portside/server"
)

// TestRoutes: a blocking route holds back the requests pipelined behind
// it, so responses leave in request order, and it does not hold up other
// connections.
func TestRoutes(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		release := make(chan struct{})
		started := make(chan struct{}, 1)
		var rt httpd.Router
		rt.HandleBlocking("GET", "/slow", func(ctx context.Context, w *httpd.ResponseWriter, r *httpd.Request) {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			w.Header("X-Route", "slow")
			io.WriteString(w, "slow done")
		})
		rt.Handle("POST", "/api/echo", func(_ context.Context, w *httpd.ResponseWriter, r *httpd.Request) {
			w.Header("Content-Type", "application/octet-stream")
			w.WriteHeader(202)
			w.Write(r.Body)
		})
		rt.Handle("", "/api/", func(_ context.Context, w *httpd.ResponseWriter, r *httpd.Request) {
			fmt.Fprintf(w, "%s %s q=%s ua=%s", r.Method, r.Path, r.RawQuery, r.Get("user-agent"))
		})
		rt.Handle("GET", "/panic", func(context.Context, *httpd.ResponseWriter, *httpd.Request) { panic("boom") })
		dir := tree(t, map[string]string{"a.txt": "file a"})
		addr := serve(t, name, httpd.Options{Root: dir, Routes: &rt})

		c := dial(t, addr)
		io.WriteString(c, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"+
			"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"+
			"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"+
			"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nping"+
			"GET /api/x?y=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n"+
			"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n"+
			"PUT /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
		<-started
		br := bufio.NewReader(c)
		first := readResponses(t, br, 1, "GET")[0]
		if b := body(t, first); b != "file a" {
			t.Fatalf("first response %q", b)
		}
		// Another connection is served while /slow blocks.
		if got := exchange(t, addr, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"); !strings.HasSuffix(got, "file a") {
			t.Errorf("second connection while a route blocks: %q", trunc(got))
		}
		close(release)
		want := []struct {
			status int
			body   string
		}{
			{200, "slow done"}, {200, "file a"}, {202, "ping"}, {200, "GET /api/x q=y=1 ua=t"},
			{500, "Internal Server Error\n"}, {405, "Method Not Allowed\n"},
		}
		for i, resp := range readResponses(t, br, len(want), "GET") {
			if b := body(t, resp); resp.StatusCode != want[i].status || b != want[i].body {
				t.Errorf("response %d: %d %q, want %d %q", i+2, resp.StatusCode, b, want[i].status, want[i].body)
			}
		}
	})
}

// TestHalfClose: a client that sends requests and shuts its write side
// still gets every response, including one from a blocking route.
func TestHalfClose(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		var rt httpd.Router
		rt.HandleBlocking("GET", "/wait", func(_ context.Context, w *httpd.ResponseWriter, _ *httpd.Request) {
			time.Sleep(50 * time.Millisecond) // the work a blocking route does, not synchronisation
			io.WriteString(w, "waited")
		})
		dir := tree(t, map[string]string{"a.txt": "A"})
		addr := serve(t, name, httpd.Options{Root: dir, Routes: &rt})
		got := exchange(t, addr, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /wait HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
		if n := strings.Count(got, "HTTP/1.1 200 OK"); n != 3 || !strings.Contains(got, "\r\n\r\nwaitedHTTP/1.1 200") {
			t.Errorf("got %d responses, want 3 in order:\n%s", n, got)
		}
	})
}

// TestPipelinedBehindBlockingRoute: requests pipelined behind a blocking
// route, far more than one read's worth, wait unread (the kernel holds them,
// and TCP pushes back on the client) and are all answered, in order, once
// the route is done; they do not close the connection as too much input.
func TestPipelinedBehindBlockingRoute(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		release := make(chan struct{})
		var rt httpd.Router
		rt.HandleBlocking("GET", "/wait", func(_ context.Context, w *httpd.ResponseWriter, _ *httpd.Request) {
			<-release
			io.WriteString(w, "waited")
		})
		dir := tree(t, map[string]string{"a.txt": "A"})
		addr := serve(t, name, httpd.Options{Root: dir, Routes: &rt})
		c := dial(t, addr)
		const n = 8000 // 8000 × 34 bytes: over four times an engine's MaxInput
		req := "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
		wrote := make(chan error, 1)
		go func() {
			_, err := io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"+strings.Repeat(req, n))
			wrote <- err
		}()
		// Release the route once the client has written it all, or
		// is blocked writing (the kernel's buffers are full).
		select {
		case err := <-wrote:
			wrote <- err
		case <-time.After(2 * time.Second):
		}
		close(release)
		defer func() {
			if err := <-wrote; err != nil {
				t.Errorf("writing the pipeline: %v", err)
			}
		}()
		br := bufio.NewReader(c)
		resps := readResponses(t, br, n+1, "GET")
		for i, r := range resps {
			want := "A"
			if i == 0 {
				want = "waited"
			}
			if got := body(t, r); r.StatusCode != 200 || got != want {
				t.Fatalf("response %d: %d %q, want 200 %q", i, r.StatusCode, got, want)
			}
		}
	})
}

func TestHeaderTimeout(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		dir := tree(t, map[string]string{"a.txt": "A"})
		addr := serve(t, name, httpd.Options{Root: dir, HeaderTimeout: 200 * time.Millisecond})
		c := dial(t, addr)
		io.WriteString(c, "GET /a.txt HTTP/1.1\r\nHost: x\r\n")
		start := time.Now()
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "HTTP/1.1 408 ") {
			t.Errorf("got %q, want 408", trunc(string(b)))
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("408 after %v", d)
		}
		// A keep-alive connection with nothing sent is not cut by it.
		c2 := dial(t, addr)
		io.WriteString(c2, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c2)
		readResponses(t, br, 1, "GET")
		c2.SetReadDeadline(time.Now().Add(600 * time.Millisecond))
		if _, err := br.ReadByte(); err == nil || !isTimeout(err) {
			t.Errorf("idle keep-alive connection: %v, want it left open", err)
		}
	})
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestBodyRate(t *testing.T) {
	dir := tree(t, map[string]string{"in/": ""})
	addr := serve(t, "goroutine", httpd.Options{Root: dir, Upload: true, MinBodyRate: 1 << 20, BodyRateWindow: 200 * time.Millisecond})
	c := dial(t, addr)
	io.WriteString(c, "PUT /in/slow.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nab")
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "HTTP/1.1 408 ") {
		t.Errorf("got %q, want 408", trunc(string(b)))
	}
	noTempFiles(t, dir)
}

// TestGracefulShutdown: a response in flight when shutdown starts is
// finished; an idle keep-alive connection is closed.
func TestGracefulShutdown(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		size := 32 << 20
		dir := tree(t, map[string]string{"big.bin": strings.Repeat("z", size)})
		h, err := httpd.New(httpd.Options{Root: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Stop()
		eng, _ := engine.New(name, engine.Options{})
		ctx, cancel := context.WithCancel(t.Context())
		ln, err := server.Listen(ctx, eng, "tcp", "127.0.0.1:0", "http")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- eng.Serve(ctx, ln, &server.Service{Name: "http", Handler: h}) }()
		addr := ln.Addr().String()

		idle := dial(t, addr)
		io.WriteString(idle, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
		ibr := bufio.NewReader(idle)
		readResponses(t, ibr, 1, "GET")

		busy := dial(t, addr)
		busy.(*net.TCPConn).SetReadBuffer(64 << 10)
		io.WriteString(busy, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(busy)
		line, _ := br.ReadString('\n')
		if !strings.HasPrefix(line, "HTTP/1.1 200") {
			t.Fatalf("status line %q", line)
		}
		cancel() // while most of the body is still to come
		n, err := io.Copy(io.Discard, br)
		if err != nil {
			t.Fatalf("reading the body during shutdown: %v", err)
		}
		if n < int64(size) {
			t.Errorf("got %d bytes of head and body, want at least %d", n, size)
		}
		if _, err := ibr.ReadByte(); err != io.EOF {
			t.Errorf("idle connection: %v, want EOF", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func TestRefuse(t *testing.T) {
	dir := tree(t, map[string]string{"a.txt": "A"})
	addr, _ := serveHandler(t, "goroutine", httpd.Options{Root: dir}, server.Limits{MaxConnsPerIP: 1})
	first := dial(t, addr)
	io.WriteString(first, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	readResponses(t, bufio.NewReader(first), 1, "GET")
	got := exchange(t, addr, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 503 ") || !strings.Contains(got, "too many connections") {
		t.Errorf("second connection from one address: %q", got)
	}
}

func TestAccessLog(t *testing.T) {
	for _, jsonFormat := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%t", jsonFormat), func(t *testing.T) {
			dir := tree(t, map[string]string{"a.txt": "hello"})
			var log testkit.SyncBuffer
			h, err := httpd.New(httpd.Options{Root: dir, AccessLog: &log, AccessLogJSON: jsonFormat})
			if err != nil {
				t.Fatal(err)
			}
			eng, _ := engine.New("goroutine", engine.Options{})
			ctx, cancel := context.WithCancel(t.Context())
			ln, _ := server.Listen(ctx, eng, "tcp", "127.0.0.1:0", "http")
			done := make(chan error, 1)
			go func() { done <- eng.Serve(ctx, ln, &server.Service{Name: "http", Handler: h}) }()
			exchange(t, ln.Addr().String(), "GET /a.txt?q=\"x\" HTTP/1.1\r\nHost: x\r\nReferer: http://r/\r\nUser-Agent: ag\"ent\r\n\r\n"+
				"GET /missing HTTP/1.1\r\nHost: x\r\n\r\nGET /bad\x01 HTTP/1.1\r\n\r\n")
			cancel()
			<-done
			h.Stop() // flushes the log
			lines := strings.Split(strings.TrimSpace(log.String()), "\n")
			if len(lines) != 3 {
				t.Fatalf("%d lines, want 3:\n%s", len(lines), log.String())
			}
			if !jsonFormat {
				re := regexp.MustCompile(`^127\.0\.0\.1 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [-+]\d{4}\] "GET /a.txt\?q=\\x22x\\x22 HTTP/1.1" 200 5 "http://r/" "ag\\x22ent"$`)
				if !re.MatchString(lines[0]) {
					t.Errorf("line %q does not match %s", lines[0], re)
				}
				if !strings.Contains(lines[1], `"GET /missing HTTP/1.1" 404 10 "-" "-"`) {
					t.Errorf("line %q", lines[1])
				}
				if !strings.Contains(lines[2], `"-" 400 0`) {
					t.Errorf("line %q", lines[2])
				}
				return
			}
			for _, l := range lines {
				var v map[string]any
				if err := json.Unmarshal([]byte(l), &v); err != nil {
					t.Fatalf("not JSON: %q: %v", l, err)
				}
			}
			var first struct {
				RemoteAddr string `json:"remote_addr"`
				Method     string
				Target     string
				Status     int
				Bytes      int
				UserAgent  string `json:"user_agent"`
			}
			json.Unmarshal([]byte(lines[0]), &first)
			if first.Method != "GET" || first.Target != `/a.txt?q="x"` || first.Status != 200 || first.Bytes != 5 || first.UserAgent != `ag"ent` || first.RemoteAddr != "127.0.0.1" {
				t.Errorf("first line decoded to %+v", first)
			}
		})
	}
}
