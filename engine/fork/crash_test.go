package fork_test

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portside/portside/echo"
	"github.com/portside/portside/engine/fork"
	"github.com/portside/portside/server"
)

// logBuffer collects log lines from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func debugLogger(w *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestResetStorm checks the echo service under fork survives peers that
// reset their connection at once: the child, whose socket no longer has a
// peer address, must not crash, and the parent keeps answering.
func TestResetStorm(t *testing.T) {
	var log, stderr logBuffer
	eng := &fork.Engine{Stderr: &stderr}
	r := startService(t, eng, &server.Service{Name: "realecho", Handler: echo.New(echo.Options{}),
		Logger: debugLogger(&log), Stats: new(server.Stats), Stateless: true})
	const n = 300
	for i := range n {
		nc, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		nc.(*net.TCPConn).SetLinger(0) // close sends RST
		nc.Close()
	}
	nc, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	c := &client{Conn: nc, r: bufio.NewReader(nc)}
	c.echo(t, "still answering")
	c.Close()
	waitFor(t, "every child to be reaped", func() bool { return r.svc.Stats.ConnsOpen.Load() == 0 })
	if got := r.svc.Stats.ConnsTotal.Load(); got < n/2 {
		t.Errorf("%d connections served, want most of the %d reset ones to reach a child", got, n+1)
	}
	if strings.Contains(log.String(), "child failed") {
		t.Errorf("children failed on reset connections:\n%s", firstLines(log.String(), 10))
	}
	// The parent passed each child its peer's address, which a reset
	// socket no longer gives.
	sessions := 0
	for line := range strings.Lines(stderr.String()) {
		if strings.Contains(line, "echo session") {
			sessions++
			if !strings.Contains(line, "remote_addr=127.0.0.1:") {
				t.Errorf("child logged a session without its peer's address: %s", line)
				break
			}
		}
	}
	if sessions == 0 {
		t.Errorf("no child logged its echo session")
	}
	if strings.Contains(stderr.String(), "panic") {
		t.Errorf("children's standard error mentions a panic:\n%s", firstLines(stderr.String(), 10))
	}
}

// TestChildPanicOneErrorLine checks that a handler's panic in a child costs
// one error line, not a stack on standard error.
func TestChildPanicOneErrorLine(t *testing.T) {
	var log, stderr logBuffer
	eng := &fork.Engine{Stderr: &stderr}
	r := startService(t, eng, &server.Service{Name: "echo", Handler: lineHandler{},
		Logger: debugLogger(&log), Stats: new(server.Stats), Stateless: true})
	c := connect(t, r.addr)
	fmt.Fprintf(c, "panic\n")
	c.eof(t)
	waitFor(t, "the child to be reaped", func() bool { return r.svc.Stats.ConnsOpen.Load() == 0 })
	var errorLines []string
	for _, out := range []string{log.String(), stderr.String()} {
		for line := range strings.Lines(out) {
			if strings.Contains(line, "level=ERROR") {
				errorLines = append(errorLines, line)
			}
		}
	}
	if len(errorLines) != 1 || !strings.Contains(errorLines[0], "asked to") {
		t.Errorf("error lines: %q; want one naming the panic %q", errorLines, "asked to")
	}
	if strings.Contains(stderr.String(), "goroutine ") {
		t.Errorf("a stack reached standard error:\n%s", firstLines(stderr.String(), 10))
	}
}

func firstLines(s string, n int) string {
	var out []string
	for line := range strings.Lines(s) {
		if len(out) == n {
			break
		}
		out = append(out, line)
	}
	return strings.Join(out, "")
}

// TestCrashStorm makes many children die of a panic the engine cannot
// recover (in a goroutine of the handler's own): each costs one error line
// in the parent's log, with the runtime's report of the crash at debug
// level and none of it on standard error, and the parent keeps accepting
// throughout.
func TestCrashStorm(t *testing.T) {
	var log, stderr logBuffer
	eng := &fork.Engine{Stderr: &stderr}
	r := startService(t, eng, &server.Service{Name: "echo", Handler: lineHandler{},
		Logger: debugLogger(&log), Stats: new(server.Stats), Stateless: true})
	const n = 100
	for i := range n {
		c := connect(t, r.addr)
		fmt.Fprintf(c, "crash\n")
		if i%10 == 0 {
			// Mid-storm, a new connection is served.
			connect(t, r.addr).echo(t, fmt.Sprintf("during the storm, %d", i))
		}
	}
	waitFor(t, "every crashed child to be reaped", func() bool { return r.svc.Stats.ConnsOpen.Load() <= 10 })
	connect(t, r.addr).echo(t, "after the storm")
	var failed, stacks int
	for line := range strings.Lines(log.String()) {
		switch {
		case strings.Contains(line, "level=ERROR"):
			if !strings.Contains(line, `msg="child failed"`) || !strings.Contains(line, "asked to crash") {
				t.Errorf("error line not a child's crash: %s", line)
			}
			failed++
		case strings.Contains(line, "level=DEBUG") && strings.Contains(line, "stack=") &&
			strings.Contains(line, "goroutine "):
			stacks++
		}
	}
	if failed != n || stacks != n {
		t.Errorf("%d error lines and %d stacks at debug level for %d crashed children, want one of each per child", failed, stacks, n)
	}
	if strings.Contains(stderr.String(), "goroutine ") || strings.Contains(stderr.String(), "asked to crash") {
		t.Errorf("a crash report reached standard error:\n%s", firstLines(stderr.String(), 10))
	}
}
