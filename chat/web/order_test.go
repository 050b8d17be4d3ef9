package web_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/chat/store"
	"github.com/portside/portside/internal/testkit"
)

// TestRequestAfterSay: a browser's request sent after a say, in one
// write, is answered only once the room has been shown the message. The
// history's write lock is held by another connection, so the message
// cannot be committed: no answer may come meanwhile.
func TestRequestAfterSay(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		dir := t.TempDir()
		st, err := store.Open(dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s := start(t, name, chat.Options{Backend: st})
		ira := testkit.Dial(t, s.chat, "ira")
		ira.Send("NICK ira", "USER ira 0 * :Ira", "JOIN #lobby")
		ira.Expect(" 366 ira #lobby ")
		bea := dialWS(t, s.web)
		bea.send(map[string]any{"type": "hello", "nick": "bea"})
		bea.expect(map[string]any{"type": "welcome"})
		bea.send(map[string]any{"type": "join", "room": "lobby"})
		bea.expect(map[string]any{"type": "joined", "room": "lobby"})
		bea.expect(map[string]any{"type": "members", "room": "lobby"}) // with the join, for the prefixes
		ira.Expect(":bea!bea@127.0.0.1 JOIN #lobby\r\n")

		release := testkit.LockHistory(t, dir)
		say, _ := json.Marshal(map[string]any{"type": "say", "room": "lobby", "text": "hi"})
		who, _ := json.Marshal(map[string]any{"type": "who", "room": "lobby"})
		if _, err := bea.c.Write(append(clientFrame(ws.OpText, true, true, say), clientFrame(ws.OpText, true, true, who)...)); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if bea.has(map[string]any{"type": "members"}) {
				t.Error("who answered before the say before it reached the room")
				break
			}
		}
		release()
		bea.expect(map[string]any{"type": "members", "room": "lobby"})
		ira.Send("PING y")
		ira.Expect(" PONG portside y\r\n")
		got := ira.Transcript()
		if i, j := strings.Index(got, ":bea!bea@127.0.0.1 PRIVMSG #lobby :hi\r\n"), strings.Index(got, " PONG portside y\r\n"); i < 0 || i > j {
			t.Errorf("ira was not shown bea's message before bea's next request was answered; got:\n%s", got)
		}
	})
}

// has reports whether p was sent, after what expect last matched, an
// object with all of want's fields.
func (p *wsPeer) has(want map[string]any) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.got[p.seen:] {
		if matches(m, want) {
			return true
		}
	}
	return false
}
