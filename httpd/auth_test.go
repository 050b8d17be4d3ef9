package httpd_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portside/portside/httpd"
	"github.com/portside/portside/internal/testkit"
)

func basic(userPass string) string {
	return base64.StdEncoding.EncodeToString([]byte(userPass))
}

// guesses pipelines one GET per password on a fresh connection and
// returns the answers' statuses, and whether the server closed the
// connection after them.
func guesses(t *testing.T, addr string, passwords ...string) (statuses []int, closed bool) {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	var req strings.Builder
	for _, p := range passwords {
		fmt.Fprintf(&req, "GET /a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n", basic("ann:"+p))
	}
	io.WriteString(c, req.String())
	br := bufio.NewReader(c)
	for range passwords {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return statuses, true
		}
		io.Copy(io.Discard, resp.Body)
		statuses = append(statuses, resp.StatusCode)
	}
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err := br.ReadByte()
	return statuses, err == io.EOF
}

// TestAuthThrottle: wrong passwords from one address are answered ever
// later, however many connections they come on, and a connection is closed
// after its third; the right password still works.
func TestAuthThrottle(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		const base = time.Millisecond
		dir := tree(t, map[string]string{"a.txt": "A"})
		var log testkit.SyncBuffer
		addr := serve(t, name, httpd.Options{Root: dir, Auth: "ann:s3cret", AuthAll: true, AuthDelay: base,
			Logger: slog.New(slog.NewTextHandler(&log, nil))})

		// 50 wrong guesses: 10 clients at once, each on two connections,
		// three guesses then two.
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan string, 20)
		for i := range 10 {
			wg.Go(func() {
				for _, n := range []int{3, 2} {
					pw := make([]string, n)
					for j := range pw {
						pw[j] = fmt.Sprintf("guess-%d-%d", i, j)
					}
					st, closed := guesses(t, addr, pw...)
					if len(st) != n {
						errs <- fmt.Sprintf("client %d: %d answers to %d guesses: %v", i, len(st), n, st)
						continue
					}
					for _, s := range st {
						if s != 401 {
							errs <- fmt.Sprintf("client %d: statuses %v, want 401s", i, st)
							break
						}
					}
					if closed != (n == 3) {
						errs <- fmt.Sprintf("client %d: closed after %d failures: %t", i, n, closed)
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		// The delays double from base up to 32 times it, one after
		// another: 1+2+4+8+16 + 45*32 bases at least.
		if min := 1471 * base; elapsed < min {
			t.Errorf("50 wrong passwords answered in %v, want at least %v", elapsed, min)
		}

		// Failures are logged with the address: the 1st, 2nd, 4th, ...
		var lines []string
		for _, l := range strings.Split(log.String(), "\n") {
			if strings.Contains(l, "authentication failed") {
				lines = append(lines, l)
			}
		}
		if len(lines) != 6 || !strings.Contains(lines[5], "remote_addr=127.0.0.1 failures=32") {
			t.Errorf("want 6 lines for 50 failures, the last at 32 with the address:\n%s", strings.Join(lines, "\n"))
		}

		// The right password waits its turn, then passes.
		if st, _ := guesses(t, addr, "s3cret"); len(st) != 1 || st[0] != 200 {
			t.Errorf("right password after the wrong ones: %v, want [200]", st)
		}
		// A success forgets the failures: the next wrong guess is
		// answered after the first delay again, and the right one then.
		if st, _ := guesses(t, addr, "wrong", "s3cret"); len(st) != 2 || st[0] != 401 || st[1] != 200 {
			t.Errorf("wrong then right: %v, want [401 200]", st)
		}
	})
}

func TestAuthHeader(t *testing.T) {
	dir := tree(t, map[string]string{"a.txt": "A"})
	addr := serve(t, "goroutine", httpd.Options{Root: dir, Auth: "ann:s3cret", AuthAll: true})
	ok := basic("ann:s3cret")
	for _, tc := range []struct {
		name, auth string
		want       string
	}{
		{"lower-case scheme", "Authorization: basic " + ok + "\r\n", "HTTP/1.1 200 "},
		{"upper-case scheme", "Authorization: BASIC " + ok + "\r\n", "HTTP/1.1 200 "},
		{"two spaces", "Authorization: Basic  " + ok + "\r\n", "HTTP/1.1 200 "},
		{"other scheme", "Authorization: Bearer " + ok + "\r\n", "HTTP/1.1 401 "},
		{"no credentials", "", "HTTP/1.1 401 "},
		{"two fields", "Authorization: Basic " + ok + "\r\nAuthorization: Basic " + basic("ann:x") + "\r\n", "HTTP/1.1 400 "},
		{"two fields, both right", "Authorization: Basic " + ok + "\r\nAuthorization: Basic " + ok + "\r\n", "HTTP/1.1 400 "},
	} {
		got := exchange(t, addr, "GET /a.txt HTTP/1.1\r\nHost: x\r\n"+tc.auth+"\r\n")
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %q, want %q...", tc.name, trunc(got), tc.want)
		}
	}
}

// TestAuthWaitingBounded: while a failure's delay runs, at most 16 attempts
// from its address wait for their turn; the others are answered 429 at
// once, without being judged.
func TestAuthWaitingBounded(t *testing.T) {
	dir := tree(t, map[string]string{"a.txt": "A"})
	addr := serve(t, "goroutine", httpd.Options{Root: dir, Auth: "ann:s3cret", AuthAll: true, AuthDelay: 3 * time.Second})
	const n = 21
	cs := make([]net.Conn, n)
	for i := range cs {
		cs[i] = dial(t, addr)
	}
	req := "GET /a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + basic("ann:wrong") + "\r\n\r\n"
	for _, c := range cs {
		io.WriteString(c, req)
	}
	// One is judged and waits 3 s for its 401, 16 wait their turn behind
	// it: the other 4 are answered at once.
	got := make(chan int, n)
	for _, c := range cs {
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				got <- 0
				return
			}
			resp.Body.Close()
			got <- resp.StatusCode
		}()
	}
	count := map[int]int{}
	for range 5 {
		count[<-got]++
	}
	if count[429] != 4 || count[401] != 1 {
		t.Errorf("first 5 answers: %v, want four 429 and a 401", count)
	}
	for _, c := range cs {
		c.Close()
	}
}
