package httpd_test

import (
	"bufio"
	"fmt"
	"github.com/portside/portside/engine"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/portside/portside/httpd"
)

// validRequest builds a random request that net/http's server accepts:
// a method, a target (origin or absolute form, escapes, queries), header
// fields of varied names and values, sometimes a small body.
func validRequest(r *rand.Rand) string {
	paths := []string{"/hello.txt", "/big.bin", "/files/a.txt", "/missing.txt", "/weird%20name%20%C3%A9.txt",
		"/nested/deep/x.txt", "/files/c.txt", "/style.css", "/empty.txt", "/hello%2etxt", "/nested//deep/x.txt"}
	var b strings.Builder
	method := []string{"GET", "GET", "GET", "HEAD"}[r.IntN(4)]
	p := paths[r.IntN(len(paths))]
	if r.IntN(3) == 0 {
		p += "?q=" + fmt.Sprint(r.IntN(1000)) + "&x=%20y"
	}
	if r.IntN(8) == 0 {
		p = "http://example.com" + p
	}
	minor := 1
	if r.IntN(10) == 0 {
		minor = 0
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.%d\r\n", method, p, minor)
	if minor == 1 || r.IntN(2) == 0 {
		fmt.Fprintf(&b, "%s: example.com\r\n", []string{"Host", "host", "HOST"}[r.IntN(3)])
	}
	names := []string{"User-Agent", "Accept", "X-Custom-Header", "x-lower", "Accept-Language", "Cookie", "X-Empty"}
	for range r.IntN(8) {
		n := names[r.IntN(len(names))]
		v := strings.Repeat("v", r.IntN(40))
		if n == "X-Empty" {
			v = ""
		}
		sep := []string{": ", ":", ":\t", ":  "}[r.IntN(4)]
		fmt.Fprintf(&b, "%s%s%s%s\r\n", n, sep, v, []string{"", " ", "\t"}[r.IntN(3)])
	}
	// A range of an empty file is 416 here, as RFC 9110 §14.2 has it;
	// net/http ignores it and answers 200.
	if r.IntN(3) == 0 && method == "GET" && !strings.Contains(p, "empty") {
		start := r.IntN(10)
		fmt.Fprintf(&b, "Range: bytes=%d-%d\r\n", start, start+r.IntN(20))
	}
	b.WriteString("Connection: close\r\n")
	if r.IntN(6) == 0 {
		body := strings.Repeat("x", r.IntN(100))
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	} else {
		b.WriteString("\r\n")
	}
	return b.String()
}

// TestAgainstNetHTTP sends the same valid requests, byte for byte, to
// portside and to net/http's FileServer over the same directory: both must
// accept them, with the same status and the same body.
func TestAgainstNetHTTP(t *testing.T) {
	dir := staticTree(t)
	ours := serve(t, engine.Default, httpd.Options{Root: dir})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	theirs := ln.Addr().String()

	r := rand.New(rand.NewPCG(1, 2))
	n := 300
	if testing.Short() {
		n = 50
	}
	for i := range n {
		req := validRequest(r)
		method := strings.Fields(req)[0]
		a := roundTrip(t, ours, req, method)
		b := roundTrip(t, theirs, req, method)
		if a.status == 400 || a.status >= 500 {
			t.Errorf("request %d refused with %d, net/http answered %d:\n%s", i, a.status, b.status, req)
			continue
		}
		if a.status != b.status || a.body != b.body {
			t.Errorf("request %d: portside %d %q, net/http %d %q\n%s", i, a.status, trunc(a.body), b.status, trunc(b.body), req)
		}
	}
}

type answer struct {
	status int
	body   string
}

func roundTrip(t *testing.T, addr, raw, method string) answer {
	t.Helper()
	c := dial(t, addr)
	io.WriteString(c, raw)
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s: %v\n%s", addr, err, raw)
	}
	b, _ := io.ReadAll(resp.Body)
	c.Close()
	body := string(b)
	if resp.StatusCode >= 400 {
		body = "" // error pages are worded differently
	}
	return answer{resp.StatusCode, body}
}
