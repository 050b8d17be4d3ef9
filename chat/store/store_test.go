package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/portside/portside/chat"
)

// run runs s until the returned stop is called; delivered batches arrive
// on the channel.
func run(t *testing.T, s *Store) (<-chan []*chat.Msg, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out := make(chan []*chat.Msg, 1000)
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(b []*chat.Msg) { out <- append([]*chat.Msg(nil), b...) })
	}()
	var stopped bool
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return out, stop
}

func msg(room, text string, at time.Time) *chat.Msg {
	return &chat.Msg{Room: room, Kind: chat.Say, Nick: "n", Text: text, Time: at}
}

func history(t *testing.T, s *Store, room string, before uint64, n int) []string {
	t.Helper()
	got := make(chan []string, 1)
	s.History(room, before, n, func(msgs []*chat.Msg, err error) {
		if err != nil {
			t.Errorf("History: %v", err)
		}
		var out []string
		for _, m := range msgs {
			out = append(out, fmt.Sprintf("%d:%s", m.Seq, m.Text))
		}
		got <- out
	})
	return <-got
}

func TestOrderAndRestart(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := Open(dir, Options{Sync: SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	out, stop := run(t, s)
	const n = 300
	for i := range n {
		room := []string{"a", "b", "c"}[i%3]
		if err := s.Publish(msg(room, fmt.Sprint(i), now)); err != nil {
			t.Fatal(err)
		}
	}
	last := map[string]uint64{}
	for got := 0; got < n; {
		for _, m := range <-out {
			got++
			if m.Seq != last[m.Room]+1 {
				t.Fatalf("room %s: seq %d after %d", m.Room, m.Seq, last[m.Room])
			}
			last[m.Room] = m.Seq
		}
	}
	if got, want := history(t, s, "a", 0, 3), []string{"98:291", "99:294", "100:297"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("latest of a: %v, want %v", got, want)
	}
	if got, want := history(t, s, "b", 3, 5), []string{"1:1", "2:4"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("b before 3: %v, want %v", got, want)
	}
	stop()
	if err := s.Publish(msg("a", "late", now)); err != chat.ErrClosed {
		t.Errorf("Publish after Run: %v, want ErrClosed", err)
	}

	s, err = Open(dir, Options{Sync: SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	latest, err := s.Latest(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 6 {
		t.Errorf("Latest(2) gave %d messages, want 6", len(latest))
	}
	for _, m := range latest {
		if !m.Time.Equal(now) || m.Kind != chat.Say || m.Nick != "n" {
			t.Errorf("reloaded %+v", m)
		}
	}
	out, _ = run(t, s)
	s.Publish(msg("a", "after restart", now))
	if b := <-out; b[0].Seq != 101 {
		t.Errorf("after restart, seq %d, want 101", b[0].Seq)
	}
}

func TestRetention(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := Open(t.TempDir(), Options{Sync: SyncNever, KeepCount: 10, KeepAge: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, s)
	// 1,000 messages trigger a trim; the old room's are all past the age.
	s.Publish(msg("old", "ancient", now.Add(-2*time.Hour)))
	for i := range 999 {
		s.Publish(msg("new", fmt.Sprint(i), now))
	}
	for got := 0; got < 1000; got += len(<-out) {
	}
	// The trim runs right after the delivery that crossed 1,000: a later
	// message proves it finished.
	s.Publish(msg("new", "last", now))
	<-out
	if got := history(t, s, "old", 0, 100); len(got) != 0 {
		t.Errorf("old room kept %v past its age", got)
	}
	got := history(t, s, "new", 0, 100)
	if len(got) > 11 || got[len(got)-1] != "1000:last" {
		t.Errorf("new room kept %d messages, ending %v; want at most 11", len(got), got[len(got)-1])
	}
}

func TestGroupCommit(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Publish before Run: everything waits, so the first commit takes all.
	for i := range 500 {
		s.Publish(msg("r", fmt.Sprint(i), time.Now()))
	}
	out, _ := run(t, s)
	if b := <-out; len(b) != 500 {
		t.Errorf("first batch had %d messages, want all 500 in one commit", len(b))
	}
}
