// Package examples_test builds each example and runs it as a real process,
// under every engine it can run on, talking to it over loopback sockets.
package examples_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/engine"
)

var bin string // the directory of the built examples

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "portside-examples")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	out, err := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./...").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running example.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string // what it prints, line by line
	stderr strings.Builder
	done   chan error
}

// run starts example name with args; it is interrupted and waited for at
// the end of the test.
func run(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(filepath.Join(bin, name), args...), lines: make(chan string, 100), done: make(chan error, 1)}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-p.done:
			if err != nil && !t.Failed() {
				t.Errorf("%s on interrupt: %v; stderr: %s", name, err, p.stderr.String())
			}
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			t.Errorf("%s did not stop on interrupt", name)
		}
	})
	return p
}

// line returns the next line the example prints, failing after a bound.
func (p *proc) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatalf("exited; stderr: %s", p.stderr.String())
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatalf("no output; stderr: %s", p.stderr.String())
		return ""
	}
}

var listening = regexp.MustCompile(`^listening on (\S+)$`)

// serve starts a server example and returns the address it listens on.
func serve(t *testing.T, name, eng string) (*proc, string) {
	t.Helper()
	p := run(t, name, "-engine", eng, "-listen", "127.0.0.1:0")
	l := p.line(t)
	m := listening.FindStringSubmatch(l)
	if m == nil {
		t.Fatalf("first line %q, want listening on ADDR", l)
	}
	return p, m[1]
}

// conn is a client of an example: send a line, expect a line.
type conn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dial(t *testing.T, addr string) *conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { nc.Close() })
	return &conn{t, nc, bufio.NewReader(nc)}
}

func (c *conn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, s+"\n"); err != nil {
		c.t.Fatal(err)
	}
}

func (c *conn) expect(want string) {
	c.t.Helper()
	got, err := c.r.ReadString('\n')
	if got != want+"\n" {
		c.t.Fatalf("read %q (%v), want %q", got, err, want)
	}
}

// TestSillyEcho: the echo tutorial's three clients pass under every
// engine, and the server then echoes for another client too.
func TestSillyEcho(t *testing.T) {
	for _, eng := range engine.Names() {
		t.Run(eng, func(t *testing.T) {
			p, addr := serve(t, "silly-echo", eng)
			if l := p.line(t); l != "3 clients × 5 messages echoed and checked" {
				t.Fatalf("printed %q; stderr: %s", l, p.stderr.String())
			}
			c := dial(t, addr)
			c.send("hello from telnet")
			c.expect("hello from telnet")
		})
	}
}

// TestStress runs the stress client against its own server under every
// engine: every message must come back.
func TestStress(t *testing.T) {
	for _, eng := range engine.Names() {
		t.Run(eng, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, filepath.Join(bin, "stress"), "-engine", eng, "-listen", "127.0.0.1:0", "-c", "10", "-n", "50").CombinedOutput()
			if err != nil || !regexp.MustCompile(`^500 messages, 0 errors, .* msg/s\n$`).Match(out) {
				t.Errorf("stress: %v\n%s", err, out)
			}
		})
	}
}

// TestKV: both styles give the same answers under every engine that can
// share the map; fork refuses them, saying why.
func TestKV(t *testing.T) {
	for _, name := range []string{"kv", "kv-stream"} {
		for _, eng := range engine.Names() {
			t.Run(name+"/"+eng, func(t *testing.T) {
				if eng == "fork" {
					out, err := exec.Command(filepath.Join(bin, name), "-engine", eng, "-listen", "127.0.0.1:0").CombinedOutput()
					if err == nil || !strings.Contains(string(out), "not marked Stateless") {
						t.Errorf("under fork: %v\n%s", err, out)
					}
					return
				}
				_, addr := serve(t, name, eng)
				a := dial(t, addr)
				a.send("GET k")
				a.expect("NOT_FOUND")
				a.send("SET k a value")
				a.expect("OK")
				a.nc.Write([]byte("GE")) // a command in two pieces
				a.nc.Write([]byte("T k\r\n"))
				a.expect("VALUE a value")
				a.send("FLY k")
				a.expect("ERR want GET k, SET k v or DEL k")
				a.nc.Close() // iterative serves one connection at a time
				b := dial(t, addr)
				b.send("GET k")
				b.expect("VALUE a value")
				b.send("DEL k")
				b.expect("OK")
				b.send("GET k")
				b.expect("NOT_FOUND")
			})
		}
	}
}

// TestRoom: a line from one member reaches the others, not its sender.
func TestRoom(t *testing.T) {
	for _, eng := range engine.Names() {
		if eng == "fork" || eng == "iterative" {
			continue // a room needs its members connected at once, in one process
		}
		t.Run(eng, func(t *testing.T) {
			_, addr := serve(t, "room", eng)
			a, b, c := dial(t, addr), dial(t, addr), dial(t, addr)
			ids := make([]string, 3)
			for i, m := range []*conn{a, b, c} {
				l, err := m.r.ReadString('\n')
				if _, err2 := fmt.Sscanf(l, "you are %s", &ids[i]); err != nil || err2 != nil {
					t.Fatalf("greeting %q: %v %v", l, err, err2)
				}
			}
			a.send("hi all")
			b.expect(ids[0] + ": hi all")
			c.expect(ids[0] + ": hi all")
			b.send("hi a")
			a.expect(ids[1] + ": hi a") // not its own line first
			c.expect(ids[1] + ": hi a")
		})
	}
}
