package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/chat/store"
	"github.com/portside/portside/engine"
	"github.com/portside/portside/internal/testkit"
)

// TestRoomCap: with the server at its most rooms, all with members, a
// join that would create one more is refused at each door, saying why; a
// room left empty with only a replay gives way to a new one.
func TestRoomCap(t *testing.T) {
	s := start(t, engine.Default, chat.Options{MaxTotalRooms: 2})
	ana := testkit.Dial(t, s.chat, "ana")
	ana.Send("ana")
	ana.Expect("* You are in lobby with 1: ana")
	bob := testkit.Dial(t, s.chat, "bob")
	bob.Send("NICK bob", "USER bob 0 * :Bob", "JOIN #b")
	bob.Expect(" 366 bob #b ")

	// lobby and b are taken.
	bob.Send("JOIN #c")
	bob.Expect(":portside 403 bob #c :Cannot create channel: the server has its most (2); join one that exists\r\n")
	ana.Send("/join e")
	ana.Expect("! Cannot create e: the server has its most rooms (2). Join one that exists: /rooms lists them.\r\n")
	ana.Send("/who")
	ana.Expect("lobby") // still where she was
	cat := dialWS(t, s.web)
	cat.send(map[string]any{"type": "hello", "nick": "cat"})
	cat.expect(map[string]any{"type": "welcome"})
	cat.send(map[string]any{"type": "join", "room": "d"})
	cat.expect(map[string]any{"type": "error", "code": "too-many-rooms", "room": "d"})
	cat.send(map[string]any{"type": "join", "room": "lobby"}) // one that exists
	cat.expect(map[string]any{"type": "joined", "room": "lobby"})

	// bob leaves b after saying something: b keeps a replay but no one,
	// and a new room may take its place.
	dan := testkit.Dial(t, s.chat, "dan")
	dan.Send("NICK dan", "USER dan 0 * :Dan", "JOIN #b")
	dan.Expect(" 366 dan #b ")
	bob.Send("PRIVMSG #b :hi")
	dan.Expect(":bob!bob@127.0.0.1 PRIVMSG #b :hi") // in b's replay now
	bob.Send("PART #b")
	bob.Expect(":bob!bob@127.0.0.1 PART #b")
	dan.Send("PART #b")
	dan.Expect(":dan!dan@127.0.0.1 PART #b")
	cat.send(map[string]any{"type": "join", "room": "d"})
	cat.expect(map[string]any{"type": "joined", "room": "d"})
	bob.Send("JOIN #b")
	bob.Expect(":portside 403 bob #b :Cannot create channel")
}

// TestRoomCapAtLoad: history of more rooms than the cap is loaded for the
// rooms spoken in last only.
func TestRoomCapAtLoad(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{Sync: store.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	delivered := make(chan struct{}, 3)
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- st.Run(ctx, func(b []*chat.Msg) { delivered <- struct{}{} }) }()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, room := range []string{"old", "mid", "new"} {
		st.Publish(&chat.Msg{Room: room, Kind: chat.Say, Nick: "n", Text: "in " + room, Time: at.Add(time.Duration(i) * time.Hour)})
		<-delivered
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}

	st, err = store.Open(dir, store.Options{Sync: store.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, engine.Default, chat.Options{Backend: st, MaxTotalRooms: 2, DefaultRoom: "-"})
	if err := s.hub.Load(); err != nil { // done by Run too: this waits for it
		t.Fatal(err)
	}
	p := testkit.Dial(t, s.chat, "ana")
	p.Send("ana", "/join new")
	p.Expect("* You are in new with 1: ana\r\n")
	p.Expect("<n> in new\r\n") // replayed
	p.Send("/join old", "/join mid")
	p.Expect("* You are in old with 1: ana\r\n")
	p.Expect("* You are in mid with 1: ana\r\n")
	if p.Has("<n> in old") {
		t.Errorf("old, the room spoken in first, was loaded beyond the cap:\n%s", p.Transcript())
	}
}
