package httpd_test

import (
	"bufio"
	"bytes"
	"fmt"
	"github.com/portside/portside/internal/testkit"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portside/portside/httpd"
	"github.com/portside/portside/server"
)

// serve runs a Handler for o under the named engine on a loopback port
// until the test ends, and returns its address.
func serve(t *testing.T, name string, o httpd.Options) string {
	t.Helper()
	addr, _ := serveHandler(t, name, o, server.Limits{})
	return addr
}

func serveHandler(t *testing.T, name string, o httpd.Options, lim server.Limits) (string, *httpd.Handler) {
	t.Helper()
	h, err := httpd.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop() }) // after the engine has stopped: cleanups run last-in first-out
	addr := testkit.Serve(t, name, &server.Service{Name: "http", Handler: h, Limits: lim})
	t.Cleanup(transport.CloseIdleConnections)
	return addr, h
}

// tree writes files (name → content) under a new directory; a name ending
// in "/" is a directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func dial(t *testing.T, addr string) net.Conn { return testkit.DialTCP(t, addr, 30*time.Second) }

// exchange sends raw bytes on a fresh connection, half-closes, and returns
// everything the server sends until it closes.
func exchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading response to %q: %v", trunc(raw), err)
	}
	return string(b)
}

// readResponses reads n responses from r with net/http's reader, bodies
// included.
func readResponses(t *testing.T, r *bufio.Reader, n int, method string) []*http.Response {
	t.Helper()
	var out []*http.Response
	for i := range n {
		resp, err := http.ReadResponse(r, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", i, err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, resp)
	}
	return out
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// transport is shared by the tests' clients; its idle connections are
// closed before a server shuts down, so shutdown need not wait for them.
var transport = &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}

// client is a net/http client that neither follows redirects nor adds
// Accept-Encoding behind the test's back.
func client() *http.Client {
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: 30 * time.Second,
	}
}

func get(t *testing.T, url string, hdr ...string) *http.Response {
	t.Helper()
	return do(t, "GET", url, nil, hdr...)
}

// do sends a request with header pairs "Name: value".
func do(t *testing.T, method, url string, body io.Reader, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func wantStatus(t *testing.T, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: status %d, want %d (body %q)", resp.Request.Method, resp.Request.URL, resp.StatusCode, want, trunc(string(b)))
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }
func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }

var _ = fmt.Sprint
