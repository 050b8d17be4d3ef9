package httpd_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/httpd"
	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/server"
)

// waitLog waits until the access log holds a line containing each of
// want, and returns the log.
func waitLog(t *testing.T, log *testkit.SyncBuffer, want ...string) string {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); ; {
		l := log.String()
		found := 0
		for _, line := range strings.Split(l, "\n") {
			for _, w := range want {
				if strings.Contains(line, w) {
					found++
				}
			}
		}
		if found >= len(want) {
			return l
		}
		if time.Now().After(end) {
			t.Fatalf("no line with each of %q in the access log:\n%s", want, l)
		}
		time.Sleep(20 * time.Millisecond) // the log is written every 200 ms
	}
}

// TestAccessLogGaps: a request refused before its body is read is logged
// with its method, target and agent; an upload its client broke off is
// logged as 499.
func TestAccessLogGaps(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		var log testkit.SyncBuffer
		dir := tree(t, map[string]string{"in/": ""})
		addr := serve(t, name, httpd.Options{Root: dir, Upload: true, MaxUpload: 1 << 10, AccessLog: &log})

		got := exchange(t, addr, "PUT /in/big.bin HTTP/1.1\r\nHost: x\r\nUser-Agent: big-agent\r\nContent-Length: 100000000\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 413 ") {
			t.Errorf("PUT too large: %q", trunc(got))
		}
		// Its answer says the limit: the log has its length.
		n := len(got) - strings.Index(got, "\r\n\r\n") - 4
		waitLog(t, &log, `"PUT /in/big.bin HTTP/1.1" 413 `+strconv.Itoa(n)+` "-" "big-agent"`)

		c := dial(t, addr)
		io.WriteString(c, "PUT /in/cut.bin HTTP/1.1\r\nHost: x\r\nUser-Agent: cut-agent\r\nContent-Length: 1000\r\n\r\nonly a part")
		c.Close()
		waitLog(t, &log, `"PUT /in/cut.bin HTTP/1.1" 499 0 "-" "cut-agent"`)
	})
}

// TestChunkedGet: a GET with an empty chunked body is served; one with a
// body too large to drop is refused with 413.
func TestChunkedGet(t *testing.T) {
	dir := tree(t, map[string]string{"a.txt": "A"})
	addr := serve(t, engine.Default, httpd.Options{Root: dir})
	got := exchange(t, addr, "GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+
		"GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	if n := strings.Count(got, "HTTP/1.1 200 "); n != 2 || !strings.HasSuffix(got, "\r\n\r\nA") {
		t.Errorf("GETs with small chunked bodies: %q", got)
	}
	big := strings.Repeat("8000\r\n"+strings.Repeat("x", 0x8000)+"\r\n", 3) + "0\r\n\r\n"
	got = exchange(t, addr, "GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+big)
	if !strings.HasPrefix(got, "HTTP/1.1 413 ") {
		t.Errorf("GET with a 96 KiB chunked body: %q", trunc(got))
	}
}

// TestShutdownDuringUpload: an upload whose body is still coming when the
// server shuts down is read to its end within the drain timeout, stored and
// answered 201, and the connection closes; one that cannot finish in time
// is answered 503 with Connection: close, nothing is stored, and the access
// log has its line.
func TestShutdownDuringUpload(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		for _, finish := range []bool{true, false} {
			t.Run(fmt.Sprintf("finish=%t", finish), func(t *testing.T) { shutdownDuringUpload(t, name, finish) })
		}
	})
}

func shutdownDuringUpload(t *testing.T, name string, finish bool) {
	var log testkit.SyncBuffer
	dir := tree(t, map[string]string{"in/": ""})
	drain := time.Minute // the upload finishes well before
	if !finish {
		drain = time.Second
	}
	h, err := httpd.New(httpd.Options{Root: dir, Upload: true, AccessLog: &log, DrainTimeout: drain})
	if err != nil {
		t.Fatal(err)
	}
	eng, _ := engine.New(name, engine.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ln, err := server.Listen(ctx, eng, "tcp", "127.0.0.1:0", "http")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	done := make(chan error, 1)
	go func() {
		done <- eng.Serve(ctx, ln, &server.Service{Name: "http", Handler: h, Limits: server.Limits{DrainTimeout: drain}})
	}()

	c := dial(t, addr)
	io.WriteString(c, "PUT /in/up.bin HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n")
	br := bufio.NewReader(c)
	// 100 Continue: the head passed, the body is being read.
	if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("want 100 Continue, got %q", line)
	}
	br.ReadString('\n')
	io.WriteString(c, strings.Repeat("u", 1000))
	cancel()
	if finish {
		// The listener is closed once the shutdown has begun.
		deadline := time.Now().Add(20 * time.Second)
		for {
			d, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				break
			}
			d.Close()
			if time.Now().After(deadline) {
				t.Fatal("still accepting 20s after shutdown")
			}
			time.Sleep(10 * time.Millisecond)
		}
		io.WriteString(c, strings.Repeat("u", 99000))
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to the upload in flight: %v", err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	want := 503
	if finish {
		want = 201
	}
	if resp.StatusCode != want || !finish && !resp.Close {
		t.Errorf("upload in flight at shutdown: %d, close %t; want %d", resp.StatusCode, resp.Close, want)
	}
	// Either way the server closes the connection.
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
		t.Errorf("after the answer: %q, %v; want the server's close", rest, err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	h.Stop()
	if l := log.String(); !strings.Contains(l, fmt.Sprintf(`"PUT /in/up.bin HTTP/1.1" %d `, want)) {
		t.Errorf("access log:\n%s", l)
	}
	noTempFiles(t, dir)
	b, err := os.ReadFile(filepath.Join(dir, "in", "up.bin"))
	switch {
	case finish && (err != nil || len(b) != 100000):
		t.Errorf("stored upload: %d bytes, %v; want 100000", len(b), err)
	case !finish && err == nil:
		t.Errorf("upload cut short was stored")
	}
}
