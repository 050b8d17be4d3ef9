package httpd_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"github.com/portside/portside/internal/testkit"
	"io"
	"strings"
	"testing"

	"github.com/portside/portside/httpd"
	"github.com/portside/portside/server"
)

// upper is a protocol a connection is upgraded to: it answers each line in
// upper case, and reports its Close.
type upper struct{ closed chan error }

func (u *upper) Data(c server.Conn, in []byte) (int, error) {
	n := bytes.LastIndexByte(in, '\n') + 1
	if bytes.Contains(in[:n], []byte("bye\n")) {
		return n, errors.New("upper: bye")
	}
	c.Write(bytes.ToUpper(in[:n]))
	return n, nil
}

func (u *upper) Close(c server.Conn, err error) { u.closed <- err }

// TestUpgrade: a route answers 101 and hands the connection to another
// protocol, which gets the input that followed the request in the same
// packet, and all input after; its Close is called once.
func TestUpgrade(t *testing.T) {
	testkit.EachEngine(t, 0, func(t *testing.T, name string) {
		u := &upper{closed: make(chan error, 1)}
		var rt httpd.Router
		rt.Handle("GET", "/up", func(_ context.Context, w *httpd.ResponseWriter, r *httpd.Request) {
			if r.Get("Upgrade") != "upper" {
				w.WriteHeader(426)
				return
			}
			w.Header("Upgrade", "upper")
			w.WriteHeader(101)
			w.Upgrade(u)
		})
		rt.HandleBlocking("GET", "/blocking", func(_ context.Context, w *httpd.ResponseWriter, r *httpd.Request) {
			w.WriteHeader(101)
			w.Upgrade(u)
		})
		addr := serve(t, name, httpd.Options{Routes: &rt})

		t.Run("upgraded", func(t *testing.T) {
			c := dial(t, addr)
			io.WriteString(c, "GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: upper\r\nConnection: Upgrade\r\n\r\nfirst line\nsec")
			br := bufio.NewReader(c)
			head := readHead(t, br)
			for _, want := range []string{"HTTP/1.1 101 Switching Protocols\r\n", "Upgrade: upper\r\n", "Connection: Upgrade\r\n"} {
				if !strings.Contains(head, want) {
					t.Errorf("head %q lacks %q", head, want)
				}
			}
			if strings.Contains(head, "Content-Length") {
				t.Errorf("head %q has a Content-Length", head)
			}
			io.WriteString(c, "ond\n")
			for _, want := range []string{"FIRST LINE\n", "SECOND\n"} {
				got, err := br.ReadString('\n')
				if got != want || err != nil {
					t.Errorf("got %q, %v; want %q", got, err, want)
				}
			}
			io.WriteString(c, "bye\n")
			if err := <-u.closed; err == nil || !strings.Contains(err.Error(), "upper: bye") {
				t.Errorf("Close got %v, want the protocol's error", err)
			}
		})
		t.Run("blocking route cannot upgrade", func(t *testing.T) {
			got := exchange(t, addr, "GET /blocking HTTP/1.1\r\nHost: x\r\n\r\n")
			if !strings.HasPrefix(got, "HTTP/1.1 500 ") {
				t.Errorf("got %q, want a 500", trunc(got))
			}
		})
		t.Run("closing connection cannot upgrade", func(t *testing.T) {
			got := exchange(t, addr, "GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: upper\r\nConnection: close\r\n\r\n")
			if !strings.HasPrefix(got, "HTTP/1.1 400 ") {
				t.Errorf("got %q, want a 400", trunc(got))
			}
		})
	})
}

func readHead(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading head %q: %v", b.String(), err)
		}
		b.WriteString(l)
		if l == "\r\n" {
			return b.String()
		}
	}
}

// greeter is a protocol that speaks first: it greets on its first Data.
type greeter struct{ greeted bool }

func (g *greeter) Data(c server.Conn, in []byte) (int, error) {
	if !g.greeted {
		g.greeted = true
		c.Write([]byte("hello\n"))
	}
	return len(in), nil
}

func (g *greeter) Close(server.Conn, error) {}

// TestUpgradeSpeaksFirst: the protocol a connection is upgraded to gets its
// connection as the 101 goes out, though the client sent nothing after the
// request: it can speak first, or close a client that never speaks.
func TestUpgradeSpeaksFirst(t *testing.T) {
	testkit.EachEngine(t, 0, func(t *testing.T, name string) {
		var rt httpd.Router
		rt.Handle("GET", "/up", func(_ context.Context, w *httpd.ResponseWriter, r *httpd.Request) {
			w.Header("Upgrade", "greeter")
			w.WriteHeader(101)
			w.Upgrade(&greeter{})
		})
		addr := serve(t, name, httpd.Options{Routes: &rt})
		c := dial(t, addr)
		io.WriteString(c, "GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: greeter\r\nConnection: Upgrade\r\n\r\n")
		br := bufio.NewReader(c)
		readHead(t, br)
		if got, err := br.ReadString('\n'); got != "hello\n" {
			t.Errorf("got %q, %v; want the protocol's greeting", got, err)
		}
	})
}
