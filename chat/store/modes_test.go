package store

import (
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/internal/testkit"
)

// TestModesKept: a room's modes are written before the messages published
// after them, survive a restart, and are forgotten when the hub says so. A
// database made before the table existed gets it.
func TestModesKept(t *testing.T) {
	dir := t.TempDir()
	// A database of an earlier release: no room_modes table.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "chat.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(dir, Options{Sync: SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	out, stop := run(t, s)
	want := &chat.RoomModes{Flags: "imn", Key: "sesame", Limit: 5, Ops: []string{"ana"}, Voiced: []string{"bob"},
		Bans: []chat.Ban{{Mask: "carol!*@*", By: "ana", At: 1767323045}}, Set: true}
	s.KeepModes("dev", &chat.RoomModes{Flags: "n"})
	s.KeepModes("dev", want)
	s.KeepModes("gone", &chat.RoomModes{Ops: []string{"x"}})
	s.KeepModes("gone", nil)
	s.Publish(msg("dev", "after", time.Now()))
	<-out // the message is committed: the modes before it
	got, err := s.LoadModes()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got["dev"], want) {
		t.Fatalf("LoadModes = %+v, want only dev: %+v", got, want)
	}
	stop()

	s, err = Open(dir, Options{Sync: SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err = s.LoadModes()
	if err != nil || !reflect.DeepEqual(got["dev"], want) {
		t.Fatalf("after a restart LoadModes = %+v, %v; want dev: %+v", got, err, want)
	}
}

// TestModesFullDisk: rooms' modes that cannot be written on a full disk
// are logged, not retried in a loop, and written with the next message
// once space is back; the store serves on meanwhile.
func TestModesFullDisk(t *testing.T) {
	dir := testkit.Tmpfs(t, 2<<20)
	logs := new(testkit.SyncBuffer)
	s, err := Open(dir, Options{Sync: SyncNever, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	out, stop := run(t, s)
	free := testkit.FillDisk(t, dir)
	var bans []chat.Ban
	for i := range chat.MaxBans {
		bans = append(bans, chat.Ban{Mask: fmt.Sprintf("someone-with-a-long-name-%d!*@*", i), By: "ana", At: 1})
	}
	rooms := 0
	for !strings.Contains(logs.String(), "room modes cannot be written") {
		if rooms == 500 {
			t.Fatal("500 rooms' modes written on a full disk")
		}
		s.KeepModes(fmt.Sprintf("r%d", rooms), &chat.RoomModes{Flags: "m", Bans: bans, Set: true})
		rooms++
		next(t, s, out, msg("r", "x", time.Now())) // after the modes: lost or kept
	}
	t.Logf("the modes of %d rooms given on a full disk", rooms)
	free()
	if m := next(t, s, out, msg("r", "after", time.Now())); m.Lost != nil {
		t.Fatalf("a message after space came back: %v", m.Lost)
	}
	got, err := s.LoadModes()
	if err != nil || len(got) != rooms {
		t.Fatalf("LoadModes: %d rooms, %v; want %d", len(got), err, rooms)
	}
	stop()
}
