package store

import (
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/portside/portside/chat"
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

	s, err := Open(dir, Options{NoSync: true})
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

	s, err = Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err = s.LoadModes()
	if err != nil || !reflect.DeepEqual(got["dev"], want) {
		t.Fatalf("after a restart LoadModes = %+v, %v; want dev: %+v", got, err, want)
	}
}
