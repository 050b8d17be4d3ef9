package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/internal/testkit"
)

// next publishes m and returns it as delivered: kept, or lost.
func next(t *testing.T, s *Store, out <-chan []*chat.Msg, m *chat.Msg) *chat.Msg {
	t.Helper()
	if err := s.Publish(m); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	select {
	case b := <-out:
		if len(b) != 1 || b[0] != m {
			t.Fatalf("delivered %v, want the one message published", b)
		}
		return b[0]
	case <-time.After(30 * time.Second):
		t.Fatal("nothing delivered in 30s: the store stopped")
		return nil
	}
}

// TestFullDisk: on a real file system that fills up, the store does not
// stop: the messages it cannot write come back lost, it says it is
// degraded, and once space is freed the next message is kept, its room's
// sequence going on without a gap.
func TestFullDisk(t *testing.T) {
	dir := testkit.Tmpfs(t, 2<<20)
	logs := new(testkit.SyncBuffer)
	clock := &fakeClock{now: time.Now()}
	s, err := Open(dir, Options{Sync: SyncNever, Logger: slog.New(slog.NewTextHandler(logs, nil)), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	out, stop := run(t, s)
	now := time.Now()
	if m := next(t, s, out, msg("r", "before", now)); m.Lost != nil || m.Seq != 1 {
		t.Fatalf("before the disk filled: seq %d, lost %v", m.Seq, m.Lost)
	}
	free := testkit.FillDisk(t, dir)
	// SQLite may still fit a message or two in pages it had; not hundreds.
	var lost *chat.Msg
	kept := 1
	for i := 0; lost == nil; i++ {
		if i == 500 {
			t.Fatal("500 messages kept on a full disk")
		}
		m := next(t, s, out, msg("r", strings.Repeat("x", 300), now))
		if m.Lost != nil {
			lost = m
		} else {
			kept++
		}
	}
	if !errors.Is(lost.Lost, chat.ErrNotKept) || !strings.Contains(lost.Lost.Error(), "disk full") || lost.Seq != 0 {
		t.Errorf("lost message: seq %d, Lost %v; want seq 0 and ErrNotKept saying disk full", lost.Seq, lost.Lost)
	}
	if s.Stats().Degraded.Load() != 1 || s.Stats().NotKept.Load() != 1 {
		t.Errorf("degraded %d, not kept %d; want 1 and 1", s.Stats().Degraded.Load(), s.Stats().NotKept.Load())
	}
	if m := next(t, s, out, msg("r", "still full", now)); m.Lost == nil {
		t.Errorf("a message was kept on the full disk right after one was lost")
	}
	// The log says it once, then at most once a minute while it lasts.
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d error lines for two refused messages, want 1:\n%s", n, logs.String())
	}
	clock.Add(2 * time.Minute)
	if m := next(t, s, out, msg("r", "a while later", now)); m.Lost == nil {
		t.Errorf("a message was kept on the full disk")
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 2 || !strings.Contains(logs.String(), "still cannot be written") {
		t.Errorf("%d error lines after two minutes, want 2:\n%s", n, logs.String())
	}

	free()
	m := next(t, s, out, msg("r", "after", now))
	if m.Lost != nil || m.Seq != uint64(kept+1) {
		t.Fatalf("after space came back: seq %d, lost %v; want seq %d kept", m.Seq, m.Lost, kept+1)
	}
	if !strings.Contains(logs.String(), "can be written again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
	if s.Stats().Degraded.Load() != 0 || s.Stats().NotKept.Load() != 3 {
		t.Errorf("degraded %d, not kept %d; want 0 and 3", s.Stats().Degraded.Load(), s.Stats().NotKept.Load())
	}
	h := history(t, s, "r", 0, 1000)
	if len(h) != kept+1 || h[0] != "1:before" || h[len(h)-1] != fmt.Sprintf("%d:after", kept+1) {
		t.Errorf("history %v: want the kept messages only, in order", h)
	}
	stop()
}

// TestOpenOnFullDisk: a server started on a full disk, with no history
// yet, serves in degraded mode rather than refusing, and keeps messages
// once space is freed.
func TestOpenOnFullDisk(t *testing.T) {
	dir := testkit.Tmpfs(t, 1<<20)
	free := testkit.FillDisk(t, dir)
	s, err := Open(filepath.Join(dir, "chat"), Options{Sync: SyncNever})
	if err != nil {
		t.Fatalf("Open on a full disk: %v; want degraded mode", err)
	}
	if s.Stats().Degraded.Load() != 1 {
		t.Errorf("degraded %d, want 1", s.Stats().Degraded.Load())
	}
	out, _ := run(t, s)
	if m := next(t, s, out, msg("r", "lost", time.Now())); m.Lost == nil {
		t.Errorf("kept %q on a full disk", m.Text)
	}
	free()
	if m := next(t, s, out, msg("r", "kept", time.Now())); m.Lost != nil || m.Seq != 1 {
		t.Errorf("after space came back: seq %d, lost %v", m.Seq, m.Lost)
	}
	if s.Stats().Degraded.Load() != 0 {
		t.Errorf("still degraded")
	}
}

// TestLock: a second store on a folder is refused, naming the first's
// process; once the first is closed, the folder is free.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, Options{Sync: SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, Options{Sync: SyncNever})
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second Open: %v, want a LockedError", err)
	}
	if want := fmt.Sprintf("pid %d: %s", os.Getpid(), os.Args[0]); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) {
		t.Errorf("refusal %q should name the folder and %q", err, want)
	}
	a.Close()
	b, err := Open(dir, Options{Sync: SyncNever})
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	b.Close()
}

// TestByteBudget: history over its byte budget loses its oldest messages,
// whatever their room, and the database stays near the budget.
func TestByteBudget(t *testing.T) {
	dir := t.TempDir()
	const budget = 512 << 10
	s, err := Open(dir, Options{Sync: SyncNever, KeepCount: -1, KeepAge: -1, MaxBytes: budget})
	if err != nil {
		t.Fatal(err)
	}
	out, stop := run(t, s)
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rooms := []string{"a", "b", "c"}
	const n = 3000 // 3 MB of text, six budgets
	text := strings.Repeat("y", 1000)
	for i := range n {
		// Time orders them across rooms: message i is the i-th oldest.
		m := msg(rooms[i%3], fmt.Sprintf("%d %s", i, text), start.Add(time.Duration(i)*time.Millisecond))
		if err := s.Publish(m); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 { // several commits, so that trims run between them
			for got := 0; got < 100; got += len(<-out) {
			}
		}
	}
	// The trim runs right after the delivery that crossed its threshold:
	// a later message proves it finished.
	next(t, s, out, msg("a", fmt.Sprintf("%d last", n), start.Add(time.Hour)))
	if s.Stats().Trimmed.Load() == 0 {
		t.Fatal("nothing trimmed")
	}
	used, err := s.used()
	if err != nil {
		t.Fatal(err)
	}
	if used > budget {
		t.Errorf("history takes %d bytes, over its budget of %d", used, budget)
	}
	// Kept: exactly the newest, a run ending at the last message.
	var kept []int
	for _, r := range rooms {
		for _, h := range history(t, s, r, 0, n) {
			var seq, i int
			fmt.Sscanf(h, "%d:%d", &seq, &i)
			kept = append(kept, i)
		}
	}
	if len(kept) <= 1 || len(kept) > n {
		t.Fatalf("%d of %d messages kept", len(kept), n)
	}
	seen := map[int]bool{}
	for _, i := range kept {
		seen[i] = true
	}
	for i := n + 1 - len(kept); i <= n; i++ {
		if !seen[i] {
			t.Fatalf("kept %d messages, but not message %d: not the oldest were deleted", len(kept), i)
		}
	}
	stop()
	st, err := os.Stat(filepath.Join(dir, "chat.db"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 2*budget {
		t.Errorf("chat.db is %d bytes for a budget of %d", st.Size(), budget)
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
