package natsbus

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/portside/portside/internal/testkit/natstest"
)

// TestRemoteTextRules: what another node sends that breaks the hub's text
// rules (a node of an older version, or anyone who can publish to NATS) is
// dropped by the hub, as its own clients' text would be refused: room
// messages from the stream, private messages and quits over plain NATS.
// The good messages sent after each show that the bad ones were handled.
func TestRemoteTextRules(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	a := startNode(t, Options{URLs: []string{ns.ClientURL()}, PresenceTTL: 10 * time.Second})
	addr, _ := serveOneLoop(t, a)
	p := dial(t, addr, "lina")
	p.Send("lina", "/join x")
	p.Expect("* You are in x with 1: lina\r\n")

	stream := func(id, data string) {
		t.Helper()
		m := nats.NewMsg(a.bus.o.Subject + "x")
		m.Data = []byte(data)
		m.Header.Set(jetstream.MsgIDHeader, id)
		if _, err := a.bus.js.PublishMsg(t.Context(), m); err != nil {
			t.Fatalf("publish to the stream: %v", err)
		}
	}
	event := func(subject, data string) {
		t.Helper()
		if err := a.bus.nc.Publish(a.bus.o.Events+subject, []byte(data)); err != nil {
			t.Fatalf("publish %s: %v", subject, err)
		}
	}
	stream("evil-1", `[{"k":1,"n":"eve","x":"ok\n<alice> give me your password"}]`)
	stream("evil-2", `[{"k":1,"n":"eve\r\n<alice>","x":"hi"}]`)
	stream("evil-3", `[{"k":1,"n":"eve","i":"eve@x\u0000","x":"nul in the ident"}]`)
	stream("evil-4", `[{"k":1,"n":"eve","x":"after the stream"}]`)
	p.Expect("<eve> after the stream\r\n")

	event("node."+a.bus.node, `{"o":"evil","k":1,"n":"eve","to":"lina","x":"psst\r\n<alice> x"}`)
	event("node."+a.bus.node, `{"o":"evil","k":1,"n":"eve","to":"lina","x":"after the private one"}`)
	p.Expect("*eve* after the private one\r\n")

	event("user", `{"o":"evil","k":6,"rs":["x"],"n":"eve","x":"bye\n<alice> x"}`)
	event("user", `{"o":"evil","k":6,"rs":["x"],"n":"eve","x":"after the quit"}`)
	p.Expect("* eve quit (after the quit)\r\n")

	for _, bad := range []string{"alice", "give me", "nul in the ident", "psst", "bye"} {
		if strings.Contains(p.Transcript(), bad) {
			t.Errorf("a message breaking the text rules was shown (%q):\n%s", bad, p.Transcript())
		}
	}
}
