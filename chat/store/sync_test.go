package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestGroupedSync: under the default policy a commit does not wait for the
// disk, but is taken to it in the background: the checkpoint that fsyncs
// the write-ahead log copies the message into the database file itself,
// which SQLite alone would do only once the log holds 1,000 pages. Under
// never, nothing does.
func TestGroupedSync(t *testing.T) {
	for _, y := range []Sync{SyncGrouped, SyncNever} {
		t.Run(y.String(), func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{Sync: y})
			if err != nil {
				t.Fatal(err)
			}
			out, _ := run(t, s)
			text := "grouped-sync-" + y.String()
			s.Publish(msg("lobby", text, time.Now()))
			<-out
			inFile := func() bool {
				b, err := os.ReadFile(filepath.Join(dir, "chat.db"))
				if err != nil {
					t.Fatal(err)
				}
				return bytes.Contains(b, []byte(text))
			}
			if y == SyncNever {
				// Time enough for a background sync, had there been one.
				time.Sleep(10 * SyncInterval)
				if inFile() {
					t.Error("the message reached the database file without a checkpoint")
				}
				return
			}
			for deadline := time.Now().Add(30 * time.Second); !inFile(); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the commit was not checkpointed into the database file in 30s")
				}
			}
		})
	}
}

// TestParseSync: each policy reads back as its name; others are refused.
func TestParseSync(t *testing.T) {
	for _, y := range []Sync{SyncGrouped, SyncAlways, SyncNever} {
		if got, err := ParseSync(y.String()); got != y || err != nil {
			t.Errorf("ParseSync(%q) = %v, %v", y.String(), got, err)
		}
	}
	if _, err := ParseSync("true"); err == nil {
		t.Error("ParseSync(true) accepted")
	}
}
