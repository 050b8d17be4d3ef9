package fork_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portside/portside/echo"
	"github.com/portside/portside/engine/fork"
	"github.com/portside/portside/server"
	"github.com/portside/portside/server/enginetest"
)

// TestMain makes the test binary its own child: started by the engine with
// fork.EnvService set, it runs childMain, the way a portside command line
// runs its services, instead of the tests.
func TestMain(m *testing.M) {
	if fork.IsChild() {
		if s := enginetest.NewService(os.Getenv(fork.EnvService)); s != nil {
			os.Exit(conformanceChild(s))
		}
		os.Exit(childMain())
	}
	// Under the race detector every process sleeps a second at exit
	// unless told otherwise; children exit all the time.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

// childMain builds the services as any program would and serves them; the
// engine makes the one the child was started for serve the inherited
// connection, and the other return once it is done.
func childMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	eng := new(fork.Engine)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	// Logs go to standard error, which the parent reads.
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	for _, name := range []string{"echo", "other", "realecho"} {
		ln, err := server.Listen(ctx, eng, "tcp", "127.0.0.1:0", name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		var h server.Handler = lineHandler{}
		if name == "realecho" {
			h = echo.New(echo.Options{Logger: logger})
		}
		wg.Go(func() {
			if err := eng.Serve(ctx, ln, &server.Service{Name: name, Handler: h, Logger: logger, Stateless: true}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// lineHandler greets with its process ID and echoes lines, except for a few
// commands that make it misbehave.
type lineHandler struct{}

func (lineHandler) Open(c server.Conn) { fmt.Fprintf(writer{c}, "pid %d\n", os.Getpid()) }

func (lineHandler) Data(c server.Conn, in []byte) (int, error) {
	i := bytes.LastIndexByte(in, '\n')
	if i < 0 {
		return 0, nil
	}
	for line := range strings.Lines(string(in[:i+1])) {
		switch strings.TrimSpace(line) {
		case "panic":
			panic("asked to")
		case "crash": // a panic no engine can recover: the child dies
			go panic("asked to crash")
		case "exit":
			os.Exit(3)
		case "ignore-term":
			signal.Ignore(syscall.SIGTERM)
			c.Write([]byte("ignoring\n"))
		default:
			c.Write([]byte(line))
		}
	}
	return i + 1, nil
}

func (lineHandler) Close(server.Conn, error) {}

func (lineHandler) Drain(c server.Conn) {
	c.Write([]byte("goodbye\n"))
	c.Close()
}

func (lineHandler) Refuse(reason error) []byte { return []byte("full: " + reason.Error() + "\n") }

type writer struct{ c server.Conn }

func (w writer) Write(b []byte) (int, error) { return len(b), w.c.Write(b) }

type running struct {
	addr string
	svc  *server.Service
	stop context.CancelFunc
	done chan error
}

func start(t *testing.T, eng *fork.Engine, lim server.Limits) *running {
	t.Helper()
	return startService(t, eng, &server.Service{Name: "echo", Handler: lineHandler{}, Limits: lim, Stats: new(server.Stats), Stateless: true})
}

// startService serves svc, whose name is one childMain builds.
func startService(t *testing.T, eng *fork.Engine, svc *server.Service) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ln, err := server.Listen(ctx, eng, "tcp", "127.0.0.1:0", svc.Name)
	if err != nil {
		t.Fatal(err)
	}
	r := &running{addr: ln.Addr().String(), stop: cancel, done: make(chan error, 1), svc: svc}
	go func() { r.done <- eng.Serve(ctx, ln, r.svc) }()
	t.Cleanup(func() {
		cancel()
		if err := r.wait(t); err != nil {
			t.Errorf("Serve: %v", err)
		}
		if kids := children(t); len(kids) > 0 {
			t.Errorf("child processes left after Serve returned: %v", kids)
		}
	})
	return r
}

// wait returns Serve's result, keeping it for later callers.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

type client struct {
	net.Conn
	r   *bufio.Reader
	pid int
}

// connect dials and reads the greeting of the child that serves it.
func connect(t *testing.T, addr string) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	c := &client{Conn: nc, r: bufio.NewReader(nc)}
	line := c.line(t)
	if _, err := fmt.Sscanf(line, "pid %d\n", &c.pid); err != nil {
		t.Fatalf("greeting %q: %v", line, err)
	}
	return c
}

func (c *client) line(t *testing.T) string {
	t.Helper()
	s, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read line: %v (got %q)", err, s)
	}
	return s
}

func (c *client) echo(t *testing.T, msg string) {
	t.Helper()
	fmt.Fprintf(c, "%s\n", msg)
	if got, want := c.line(t), msg+"\n"; got != want {
		t.Errorf("echo: got %q, want %q", got, want)
	}
}

// eof reads what is left and checks the connection then ends.
func (c *client) eof(t *testing.T) string {
	t.Helper()
	b, err := io.ReadAll(c.r)
	c.Close() // spare the server its linger
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("want end of connection, got %v", err)
	}
	return string(b)
}

// children lists the processes whose parent is this one.
func children(t *testing.T) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var kids []int
	for _, p := range stats {
		pid, ppid, _, ok := procStat(p)
		if ok && ppid == os.Getpid() {
			kids = append(kids, pid)
		}
	}
	return kids
}

// procStat parses a /proc/PID/stat file.
func procStat(path string) (pid, ppid int, state string, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, "", false
	}
	// The command name may hold spaces and parentheses; it ends at the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, "", false
	}
	f := strings.Fields(string(b[i+1:]))
	pid, err1 := strconv.Atoi(strings.Fields(string(b))[0])
	ppid, err2 := strconv.Atoi(f[1])
	return pid, ppid, f[0], err1 == nil && err2 == nil
}

// waitFor polls external state (processes, counters updated by reapers)
// until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServedByChild(t *testing.T) {
	r := start(t, new(fork.Engine), server.Limits{})
	c := connect(t, r.addr)
	if c.pid == os.Getpid() {
		t.Fatalf("served by the parent (pid %d), want a child", c.pid)
	}
	if _, ppid, _, ok := procStat(fmt.Sprintf("/proc/%d/stat", c.pid)); !ok || ppid != os.Getpid() {
		t.Errorf("serving process %d: parent %d, want %d", c.pid, ppid, os.Getpid())
	}
	c.echo(t, "hello")
	c.Close()
	waitFor(t, "the child to be reaped", func() bool { return r.svc.Stats.ConnsOpen.Load() == 0 })
	if kids := children(t); len(kids) != 0 {
		t.Errorf("children after the connection closed: %v, want none (reaped)", kids)
	}
	st := r.svc.Stats
	if got, want := st.BytesIn.Load(), int64(len("hello\n")); got != want {
		t.Errorf("BytesIn reported by the child: got %d, want %d", got, want)
	}
	if got, want := st.BytesOut.Load(), int64(len(fmt.Sprintf("pid %d\n", c.pid))+len("hello\n")); got != want {
		t.Errorf("BytesOut reported by the child: got %d, want %d", got, want)
	}
	if got := st.ConnsTotal.Load(); got != 1 {
		t.Errorf("ConnsTotal: got %d, want 1", got)
	}
}

func TestConcurrent(t *testing.T) {
	r := start(t, new(fork.Engine), server.Limits{})
	const n = 4
	cs := make([]*client, n)
	pids := map[int]bool{}
	for i := range cs {
		cs[i] = connect(t, r.addr)
		pids[cs[i].pid] = true
	}
	if len(pids) != n {
		t.Errorf("%d connections served by %d processes, want one each", n, len(pids))
	}
	// All are open at once: each still answers after the others spoke.
	for round := range 3 {
		for i, c := range cs {
			c.echo(t, fmt.Sprintf("conn %d round %d", i, round))
		}
	}
	if got := r.svc.Stats.ConnsOpen.Load(); got != n {
		t.Errorf("ConnsOpen: got %d, want %d", got, n)
	}
}

func TestMaxChildren(t *testing.T) {
	r := start(t, &fork.Engine{MaxChildren: 2}, server.Limits{})
	a := connect(t, r.addr)
	connect(t, r.addr)

	nc, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(nc)
	if want := "full: " + server.ErrServerFull.Error() + "\n"; string(b) != want || err != nil {
		t.Errorf("third connection: got %q, %v; want %q, EOF", b, err, want)
	}
	if got := r.svc.Stats.ConnsRefused.Load(); got != 1 {
		t.Errorf("ConnsRefused: got %d, want 1", got)
	}

	a.Close()
	waitFor(t, "a child slot to free", func() bool { return r.svc.Stats.ConnsOpen.Load() == 1 })
	connect(t, r.addr).echo(t, "room again")
}

func TestChildCrash(t *testing.T) {
	for _, how := range []string{"panic", "exit"} {
		t.Run(how, func(t *testing.T) {
			r := start(t, new(fork.Engine), server.Limits{})
			victim := connect(t, r.addr)
			other := connect(t, r.addr)
			fmt.Fprintf(victim, "%s\n", how)
			victim.eof(t)
			waitFor(t, "the crashed child to be reaped", func() bool { return r.svc.Stats.ConnsOpen.Load() == 1 })
			other.echo(t, "still here")
			connect(t, r.addr).echo(t, "new connections still served")
		})
	}
}

func TestShutdown(t *testing.T) {
	r := start(t, new(fork.Engine), server.Limits{DrainTimeout: 5 * time.Second})
	cs := []*client{connect(t, r.addr), connect(t, r.addr)}
	r.stop()
	for i, c := range cs {
		// SIGTERM reached the child, whose handler said goodbye.
		if got := c.eof(t); got != "goodbye\n" {
			t.Errorf("conn %d after shutdown: got %q, want goodbye", i, got)
		}
	}
	if err := r.wait(t); err != nil {
		t.Errorf("Serve: %v", err)
	}
	for _, c := range cs {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", c.pid)); err == nil {
			t.Errorf("child %d still exists (zombie or alive) after Serve returned", c.pid)
		}
	}
}

// TestShutdownKillsStubbornChild checks a child that ignores SIGTERM is
// killed once the drain bound has passed.
func TestShutdownKillsStubbornChild(t *testing.T) {
	r := start(t, new(fork.Engine), server.Limits{DrainTimeout: 100 * time.Millisecond})
	c := connect(t, r.addr)
	c.echo(t, "hello")
	fmt.Fprintf(c, "ignore-term\n")
	if got := c.line(t); got != "ignoring\n" {
		t.Fatalf("got %q, want ignoring", got)
	}
	r.stop()
	if got := c.eof(t); got != "" {
		t.Errorf("stubborn child wrote %q, want nothing", got)
	}
	if err := r.wait(t); err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", c.pid)); err == nil {
		t.Errorf("child %d still exists after Serve returned", c.pid)
	}
}

// TestSharedStateRefused checks that a service is run only if it says it
// keeps nothing between connections: the safe case is the default.
func TestSharedStateRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = new(fork.Engine).Serve(t.Context(), ln, &server.Service{Name: "chat", Handler: lineHandler{}})
	if !errors.Is(err, server.ErrNoSharedState) {
		t.Fatalf("Serve of a service not marked Stateless: got %v, want %v", err, server.ErrNoSharedState)
	}
	for _, name := range []string{"epoll", "goroutine", "iterative"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name the %s engine, which can run the service", err, name)
		}
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("listener left open")
	}
}
