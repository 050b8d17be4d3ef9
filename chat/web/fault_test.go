package web_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/chat/store"
	"github.com/portside/portside/engine"
	"github.com/portside/portside/internal/testkit"
)

// TestNotKeptEveryDoor: with the history on a disk that fills up, a
// message that cannot be kept is shown to no one, and its sender is told,
// whichever door it came by; once space is freed, messages are kept and
// shown again.
func TestNotKeptEveryDoor(t *testing.T) {
	dir := testkit.Tmpfs(t, 2<<20)
	st, err := store.Open(dir, store.Options{Sync: store.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, engine.Default, chat.Options{Backend: st})
	ana := testkit.Dial(t, s.chat, "ana")
	ana.Send("ana")
	ana.Expect("* You are in lobby with 1: ana")
	ira := testkit.Dial(t, s.chat, "ira")
	ira.Send("NICK ira", "USER ira 0 * :Ira", "JOIN #lobby")
	ira.Expect(" 366 ira #lobby ")
	bea := dialWS(t, s.web)
	bea.send(map[string]any{"type": "hello", "nick": "bea"})
	bea.expect(map[string]any{"type": "welcome"})
	bea.send(map[string]any{"type": "join", "room": "lobby"})
	bea.expect(map[string]any{"type": "joined", "room": "lobby"})

	free := testkit.FillDisk(t, dir)
	const notKept = "Your message to lobby was not kept and not delivered: chat history cannot be written (disk full). Try again later."
	// SQLite may fit a message or two in pages it has; then it refuses.
	for i := 0; !ana.Has(notKept); i++ {
		if i == 200 {
			t.Fatal("200 messages kept on a full disk")
		}
		text := fmt.Sprintf("full-%d", i)
		ana.Send(text)
		deadline := time.Now().Add(30 * time.Second)
		for !ana.Has(notKept) && !ira.Has("PRIVMSG #lobby :"+text+"\r\n") {
			if time.Now().After(deadline) {
				t.Fatalf("%s neither delivered nor refused in 30s", text)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	ana.Expect("-portside- " + notKept + "\r\n")
	ira.Send("PRIVMSG #lobby :from irc")
	ira.Expect(":portside NOTICE ira :" + notKept + "\r\n")
	bea.send(map[string]any{"type": "say", "room": "lobby", "text": "from the web"})
	n := bea.expect(map[string]any{"type": "notice", "nick": "portside", "to": "bea"})
	if n["text"] != notKept {
		t.Errorf("browser told %q", n["text"])
	}

	free()
	bea.send(map[string]any{"type": "say", "room": "lobby", "text": "back"})
	ana.Expect("<bea> back\r\n")
	ira.Expect("PRIVMSG #lobby :back\r\n")
	for _, lost := range []string{"from irc", "from the web"} {
		if ana.Has(lost) {
			t.Errorf("ana was shown %q, which was not kept", lost)
		}
	}
	if ira.Has("from the web") {
		t.Errorf("ira was shown a message that was not kept")
	}
}
