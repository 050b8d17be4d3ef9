package web_test

import (
	"testing"
	"time"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/chat/natsbus"
	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/internal/testkit/natstest"
)

// TestCluster: a browser on one node and a person on nc on another share a
// room through NATS. The browser's join waits for its node to catch up
// with the room (it gets what was said before as history), and the words
// it sent right behind the join reach the other node, after it.
func TestCluster(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	node := func() servers {
		bus, err := natsbus.Open(t.Context(), natsbus.Options{URLs: []string{ns.ClientURL()}, PresenceTTL: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s := start(t, "epoll", chat.Options{Backend: bus})
		t.Cleanup(bus.Close) // after the hub has stopped
		return s
	}
	a, b := node(), node()

	line := testkit.Dial(t, b.chat, "lina")
	line.Send("lina", "/join x")
	// The join waited for the node to catch up with x; lobby was left
	// only as it went ahead.
	line.Expect("* lina left lobby\r\n* lina joined x\r\n* You are in x with 1: lina")
	line.Send("said before")
	// Stored once the node has it back from the stream: ask until then.
	for i := 0; !line.Has("] <lina> said before"); i++ {
		if i == 100 {
			t.Fatal("the line was never stored")
		}
		time.Sleep(20 * time.Millisecond) // polling the stream, an external state
		line.Send("/history 1")
		line.Expect("* End of history.")
	}

	br := dialWS(t, a.web)
	if _, err := br.c.Write(frames(t,
		map[string]any{"type": "hello", "nick": "bea"},
		map[string]any{"type": "join", "room": "x"},
		map[string]any{"type": "say", "room": "x", "text": "right behind the join"},
	)); err != nil {
		t.Fatal(err)
	}
	br.expect(map[string]any{"type": "welcome", "nick": "bea"})
	br.expect(map[string]any{"type": "joined", "room": "x"})
	br.expect(map[string]any{"type": "say", "room": "x", "nick": "lina", "text": "said before", "history": true})
	line.Expect("* bea joined x")
	line.Expect("<bea> right behind the join")

	line.Send("/msg bea across nodes")
	br.expect(map[string]any{"type": "say", "nick": "lina", "to": "bea", "text": "across nodes"})
}
