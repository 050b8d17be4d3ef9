package natsbus

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/internal/testkit/natstest"
)

// TestDoorJoinWaitsForCatchUp: a client joining a room its node does not
// read yet is answered once the node has caught up with the room (the
// replay holds what was said before), and what it typed behind the join
// is handled after it, in order: said in the room, seen on another node.
func TestDoorJoinWaitsForCatchUp(t *testing.T) {
	tests := []struct {
		name   string
		nick   string
		sent   string   // in one write, right after connecting
		want   []string // in this order
		spoken string   // the words said behind the join
	}{
		{
			name:   "irc",
			nick:   "bea",
			sent:   "NICK bea\r\nUSER bea 0 * :Bea\r\nJOIN #x,#y\r\nPRIVMSG #x :first words\r\n",
			want:   []string{" 001 bea ", ":bea!bea@127.0.0.1 JOIN #x", " 353 bea = #x :bea @bob", " 366 bea #x ", ":bob!bob@test PRIVMSG #x :old news", ":bea!bea@127.0.0.1 JOIN #y", " 366 bea #y "},
			spoken: "first words",
		},
		{
			name:   "line",
			nick:   "cyd",
			sent:   "cyd\r\n/join x\r\nhello from cyd\r\n",
			want:   []string{"Hello cyd!", "* You are in lobby", "* You are in x with 2: bob, cyd", "<bob> old news"},
			spoken: "hello from cyd",
		},
	}
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{URLs: []string{ns.ClientURL()}, Stream: "J" + tt.name, Subject: "j" + tt.name + ".", Events: "e" + tt.name + ".", PresenceTTL: 10 * time.Second}
			a := startNode(t, o)
			b := startNode(t, o)
			watching(t, a, b)
			mb, tb := b.watcher(t, "bob", "x")
			if err := b.hub.Say(mb, "x", chat.Say, "old news"); err != nil {
				t.Fatalf("Say: %v", err)
			}
			waitHistory(t, b, "x", 1)
			deadline := time.Now().Add(10 * time.Second)
			for len(a.bus.Elsewhere("x")) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("node a never learnt that bob is in x")
				}
				time.Sleep(10 * time.Millisecond) // polling presence, an external state
			}

			addr, _ := serveOneLoop(t, a)
			p := dial(t, addr, tt.nick)
			p.Write(tt.sent)
			for _, w := range tt.want {
				p.Expect(w)
			}
			tb.waitLine(t, "JOIN x "+tt.nick)
			waitHistory(t, b, "x", 2)
			tb.waitLine(t, fmt.Sprintf("MSG x %d %s %s", b.history(t, "x")[1], tt.nick, tt.spoken))
			if strings.Contains(p.Transcript(), "no room") || strings.Contains(p.Transcript(), "404") {
				t.Errorf("the words behind the join went nowhere:\n%s", p.Transcript())
			}
		})
	}
}
