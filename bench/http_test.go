package bench_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portside/portside/bench"
)

// httpServer is Go's net/http server with a few paths, counting hits and
// new connections.
type httpServer struct {
	url   string
	mu    sync.Mutex
	hits  map[string]int
	conns atomic.Int64
}

func startHTTP(t *testing.T) *httpServer {
	t.Helper()
	s := &httpServer{hits: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 100)) })
	mux.HandleFunc("/b", func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 2000)) })
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for range 5 {
			w.Write(make([]byte, 1000))
			w.(http.Flusher).Flush() // forces chunked encoding
		}
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/random", func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, rand.IntN(1000))) })
	mux.HandleFunc("/post", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || string(b) != "hello" {
			http.Error(w, "want POST hello", http.StatusBadRequest)
			return
		}
		w.Write(b)
	})
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	ts.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	s.url = ts.URL
	return s
}

func httpConfig(url string, paths ...string) bench.Config {
	cfg := echoConfig("")
	cfg.Mode = bench.HTTP
	cfg.Targets = []bench.Target{{Name: "go", Addr: url}}
	cfg.HTTP.Paths = paths
	cfg.HTTP.Length = -1
	return cfg
}

func TestHTTP(t *testing.T) {
	srv := startHTTP(t)
	for _, tc := range []struct {
		name       string
		paths      []string
		method     string
		body       string
		depth      int
		length     int64
		wantErrors map[string]int64
	}{
		{name: "rotation", paths: []string{"/a", "/b", "/chunked"}},
		{name: "pipelined", paths: []string{"/a", "/b", "/chunked"}, depth: 8},
		{name: "status", paths: []string{"/a", "/missing"}, wantErrors: map[string]int64{"status": 300}},
		{name: "learnt length", paths: []string{"/random"}},
		{name: "given length", paths: []string{"/a", "/b"}, length: 100, wantErrors: map[string]int64{"length": 300}},
		{name: "POST", paths: []string{"/post"}, method: "POST", body: "hello"},
		{name: "POST wrong body", paths: []string{"/post"}, method: "POST", body: "nope", wantErrors: map[string]int64{"status": 600}},
		{name: "HEAD", paths: []string{"/b"}, method: "HEAD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := httpConfig(srv.url, tc.paths...)
			cfg.Count, cfg.Conns, cfg.Pipeline = 600, 3, max(tc.depth, 1)
			if tc.wantErrors != nil {
				cfg.Conns = 1 // so each path gets exactly its share
			}
			cfg.HTTP.Method, cfg.HTTP.Body = tc.method, []byte(tc.body)
			if tc.length > 0 {
				cfg.HTTP.Length = tc.length
			}
			srv.mu.Lock()
			clear(srv.hits)
			srv.mu.Unlock()
			rep := run(t, cfg)
			tr := rep.Targets[0]
			if tc.name == "learnt length" {
				// Each body length is random: all but the ones
				// matching the first are caught.
				if tr.ErrorKinds["length"] < 500 {
					t.Errorf("length errors %v, want most of 600", tr.ErrorKinds)
				}
				return
			}
			var want int64
			for _, n := range tc.wantErrors {
				want += n
			}
			if tr.Errors != want || fmt.Sprint(tr.ErrorKinds) != fmt.Sprint(orEmpty(tc.wantErrors)) {
				t.Errorf("errors %v, want %v", tr.ErrorKinds, tc.wantErrors)
			}
			if tr.Requests+tr.Errors != 600 {
				t.Errorf("%d good + %d bad replies, want 600", tr.Requests, tr.Errors)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			for _, p := range tc.paths {
				if n := srv.hits[p]; n < 600/len(tc.paths)-3*cfg.Pipeline || n > 600/len(tc.paths)+3*cfg.Pipeline {
					t.Errorf("%s served %d times, want about %d (hits %v)", p, n, 600/len(tc.paths), srv.hits)
				}
			}
		})
	}
}

func orEmpty(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}

func TestHTTPKeepAliveOff(t *testing.T) {
	srv := startHTTP(t)
	cfg := httpConfig(srv.url + "/a")
	cfg.Count, cfg.Conns = 200, 2
	cfg.HTTP.NoKeepAlive = true
	before := srv.conns.Load()
	rep := run(t, cfg)
	tr := rep.Targets[0]
	if tr.Requests != 200 || tr.Errors != 0 {
		t.Errorf("%d replies, errors %v; want 200 and none", tr.Requests, tr.ErrorKinds)
	}
	// One connection per request (a worker may open one more that the
	// budget then leaves unused).
	if n := srv.conns.Load() - before; n < 200 || n > 200+int64(cfg.Conns) {
		t.Errorf("server saw %d connections for 200 requests without keep-alive", n)
	}
	if tr.Connect.Count < 200 {
		t.Errorf("%d connect latencies recorded, want one per request", tr.Connect.Count)
	}
}

// TestHTTPServerClose: a server that answers "Connection: close" after
// every few requests is not at fault; the generator reconnects.
func TestHTTPServerClose(t *testing.T) {
	_, addr := startRaw(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		var pending string
		for served := 0; ; {
			n, err := c.Read(buf)
			pending += string(buf[:n])
			for {
				i := strings.Index(pending, "\r\n\r\n")
				if i < 0 {
					break
				}
				pending = pending[i+4:]
				served++
				hdr := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
				if served == 3 {
					c.Write([]byte(hdr + "Connection: close\r\n\r\nhello"))
					// Close as a server should: shut the write side
					// and read to the client's end. Closing with its
					// pipelined requests unread would send a reset,
					// which can destroy the reply before it is read.
					c.(*net.TCPConn).CloseWrite()
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					io.Copy(io.Discard, c)
					return
				}
				c.Write([]byte(hdr + "\r\nhello"))
			}
			if err != nil {
				return
			}
		}
	})
	cfg := httpConfig("http://" + addr + "/")
	cfg.Count, cfg.Conns, cfg.Pipeline = 300, 2, 4
	rep := run(t, cfg)
	if tr := rep.Targets[0]; tr.Requests != 300 || tr.Errors != 0 || tr.Connect.Count < 100 {
		t.Errorf("%d replies, %v errors, %d connects; want 300, none and at least 100", tr.Requests, tr.ErrorKinds, tr.Connect.Count)
	}
}
