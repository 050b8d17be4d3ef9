//go:build linux

package readiness_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portside/portside/engine/readiness"
	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/server"
)

// lineEcho echoes whole lines and tells a refused peer why.
type lineEcho struct{ server.Base }

func (lineEcho) Data(c server.Conn, in []byte) (int, error) {
	i := bytes.LastIndexByte(in, '\n')
	if i < 0 {
		return 0, nil
	}
	c.Write(in[:i+1])
	return i + 1, nil
}

func (lineEcho) Refuse(reason error) []byte { return []byte("busy: " + reason.Error() + "\n") }

// fillBelow holds descriptors (duplicates of /dev/null) until every number
// below top is taken, so the next socket this process opens or accepts is
// numbered top or above. It returns a function that frees them.
func fillBelow(t *testing.T, top int) (free func()) {
	t.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < uint64(top)+64 {
		t.Skipf("needs %d descriptors; RLIMIT_NOFILE is %d", top+64, lim.Cur)
	}
	null, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	held := []int{null} // closed with the rest: closed now, it would leave a hole
	free = func() {
		for _, fd := range held {
			unix.Close(fd)
		}
		held = nil
	}
	for {
		fd, err := unix.FcntlInt(uintptr(null), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			free()
			t.Fatal(err)
		}
		held = append(held, fd)
		if fd >= top-1 { // dup takes the lowest free number: all below are taken
			break
		}
	}
	t.Cleanup(free)
	return free
}

type wall struct {
	addr string
	svc  *server.Service
	log  *testkit.SyncBuffer
}

func serve(t *testing.T, eng server.Engine) *wall {
	t.Helper()
	log := new(testkit.SyncBuffer)
	svc := &server.Service{
		Name:    "wall",
		Handler: lineEcho{},
		Logger:  slog.New(slog.NewTextHandler(log, nil)),
		Stats:   new(server.Stats),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Background(t, "Serve", func(ctx context.Context) error { return eng.Serve(ctx, ln, svc) })
	return &wall{addr: ln.Addr().String(), svc: svc, log: log}
}

func echoes(t *testing.T, c net.Conn, r *bufio.Reader, line string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, line); err != nil {
		t.Fatal(err)
	}
	got, err := r.ReadString('\n')
	if err != nil || got != line {
		t.Fatalf("echo: got %q, %v; want %q", got, err, line)
	}
}

// TestSelectRefusesAboveWall: with every descriptor below 1024 taken, the
// next connection's cannot be watched by select(2). Its peer is told why in
// the handler's words, it is counted refused and logged with the reason,
// and its descriptor is closed though it was never watched; the connection
// already served goes on, and once descriptors below the wall are free
// again new connections are served.
func TestSelectRefusesAboveWall(t *testing.T) {
	w := serve(t, readiness.NewSelect())
	before := testkit.DialTCP(t, w.addr, 15*time.Second)
	br := bufio.NewReader(before)
	echoes(t, before, br, "before\n")

	free := fillBelow(t, readiness.FDSetSize+4)
	base := openFDs(t)
	c := testkit.DialTCP(t, w.addr, 15*time.Second)
	c.SetDeadline(time.Now().Add(15 * time.Second))
	c.Write([]byte("let me in\n")) // unread input must not turn the goodbye into a reset
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("refused peer: %v (got %q)", err, got)
	}
	if want := "busy: " + readiness.ErrDescriptorLimit.Error() + "\n"; string(got) != want {
		t.Fatalf("refused peer got %q, want %q", got, want)
	}
	// The peer keeps its socket open: the engine, which cannot watch
	// its end, still gives up lingering on it and closes it.
	waitFor(t, "the refused connection's descriptor closed", func() bool { return openFDs(t) == base+1 })
	c.Close()
	echoes(t, before, br, "still here\n")
	if n := w.svc.Stats.ConnsRefused.Load(); n != 1 {
		t.Errorf("ConnsRefused = %d, want 1", n)
	}
	if n := w.svc.Stats.ConnsTotal.Load(); n != 1 {
		t.Errorf("ConnsTotal = %d, want 1 (the refused one was never admitted)", n)
	}
	if log := w.log.String(); strings.Count(log, "select(2) watches descriptors below 1024") != 1 {
		t.Errorf("want one log line with the reason; log:\n%s", log)
	}

	free()
	after := testkit.DialTCP(t, w.addr, 15*time.Second)
	echoes(t, after, bufio.NewReader(after), "after\n")
}

// TestPollAboveWall: poll(2) has no ceiling; the same connection is served.
func TestPollAboveWall(t *testing.T) {
	w := serve(t, readiness.NewPoll())
	fillBelow(t, readiness.FDSetSize+4)
	c := testkit.DialTCP(t, w.addr, 15*time.Second)
	echoes(t, c, bufio.NewReader(c), "above the wall\n")
	if n := w.svc.Stats.ConnsRefused.Load(); n != 0 {
		t.Errorf("ConnsRefused = %d, want 0", n)
	}
}

// TestSelectListenerAboveWall: a listener select(2) cannot watch is a
// clear error from Serve, not a hang.
func TestSelectListenerAboveWall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fillBelow(t, readiness.FDSetSize+4)
	svc := &server.Service{Name: "wall", Handler: lineEcho{}}
	done := make(chan error, 1)
	go func() { done <- readiness.NewSelect().Serve(t.Context(), ln, svc) }()
	select {
	case err := <-done:
		if !errors.Is(err, readiness.ErrDescriptorLimit) {
			t.Fatalf("Serve: %v, want %v", err, readiness.ErrDescriptorLimit)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return")
	}
}
