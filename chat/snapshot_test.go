package chat

import (
	"reflect"
	"sync"
	"testing"
)

// TestSnapshots: what the doors ask of the hub about rooms and members
// (RoomNames, InRoom, NamesOf, TopicOf, WhoIn, WhoNick, WhoisOf) is
// answered from the hub's state, prefixes and secret rooms included.
func TestSnapshots(t *testing.T) {
	h := New(Options{})
	member := func(nick string) *Member {
		m := h.NewMember(new(sink), nopDoor{}, h.lineFmt, false)
		if err := h.Register(m, nick, nick+"@h", "real "+nick, nil); err != nil {
			t.Fatal(err)
		}
		return m
	}
	ana, bob, cy := member("ana"), member("bob"), member("cy")
	for _, j := range []struct {
		m    *Member
		room string
	}{{ana, "dev"}, {bob, "dev"}, {ana, "ops"}, {cy, "lobby"}} {
		if err := h.Join(j.m, j.room, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Mode(ana, "ops", []string{"+s"}); err != nil {
		t.Fatal(err)
	}
	if err := h.SetTopic(ana, "dev", "go"); err != nil {
		t.Fatal(err)
	}
	if got := h.RoomNames(ana); !reflect.DeepEqual(got, []string{"dev", "ops"}) {
		t.Errorf("RoomNames(ana) = %v", got)
	}
	if !h.InRoom(bob, "dev") || h.InRoom(bob, "ops") {
		t.Errorf("InRoom(bob): dev %v, ops %v; want true, false", h.InRoom(bob, "dev"), h.InRoom(bob, "ops"))
	}
	if got := h.NamesOf("dev"); !reflect.DeepEqual(got, []string{"@ana", "bob"}) {
		t.Errorf("NamesOf(dev) = %v", got)
	}
	if got := h.NamesOf("nowhere"); got != nil {
		t.Errorf("NamesOf(nowhere) = %v, want nil", got)
	}
	if tp, n, ok := h.TopicOf("dev"); !ok || n != 2 || tp.Text != "go" || tp.By != "ana" {
		t.Errorf("TopicOf(dev) = %+v, %d, %v", tp, n, ok)
	}
	if _, _, ok := h.TopicOf("nowhere"); ok {
		t.Error("TopicOf(nowhere) found a room")
	}
	here, _ := h.WhoIn("dev")
	if len(here) != 2 || here[0].Nick != "ana" || here[0].Prefix != "@" || here[1].Nick != "bob" || here[1].Prefix != "" || here[1].Ident != "bob@h" {
		t.Errorf("WhoIn(dev) = %+v", here)
	}
	if l, ok := h.WhoNick("BOB"); !ok || l.Nick != "bob" || l.Real != "real bob" || l.Prefix != "" {
		t.Errorf("WhoNick(BOB) = %+v, %v", l, ok)
	}
	if p := h.Prefix("dev", "ana"); p != "@" {
		t.Errorf("Prefix(dev, ana) = %q", p)
	}
	// ops is secret: bob, not in it, is not shown it; ana is.
	if w, ok := h.WhoisOf(bob, "ana"); !ok || !reflect.DeepEqual(w.Rooms, []string{"dev"}) || !reflect.DeepEqual(w.Prefix, []string{"@"}) {
		t.Errorf("WhoisOf(bob, ana) = %+v, %v", w, ok)
	}
	if w, ok := h.WhoisOf(ana, "ana"); !ok || !reflect.DeepEqual(w.Rooms, []string{"dev", "ops"}) || w.Ident != "ana@h" {
		t.Errorf("WhoisOf(ana, ana) = %+v, %v", w, ok)
	}
	if _, ok := h.WhoisOf(ana, "nobody"); ok {
		t.Error("WhoisOf(nobody) found someone")
	}

	// An operator's kick changes bob's rooms from the hub's side while
	// bob's door asks about them: each answer is whole (go test -race
	// tells if one is read without the hub's lock).
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 200 {
			h.Kick(ana, "dev", []string{"bob"}, "out")
			h.Join(bob, "dev", nil, nil)
		}
	})
	for range 200 {
		h.RoomNames(bob)
		h.InRoom(bob, "dev")
		h.NamesOf("dev")
		h.WhoIn("dev")
		h.WhoisOf(cy, "bob")
	}
	wg.Wait()
}
