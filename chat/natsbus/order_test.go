package natsbus

import (
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/internal/testkit/natstest"
)

// TestPingAfterMessage: through JetStream too, a client's PING after its
// message is answered only once the message is back from the stream and
// shown to the room's members on the node. The message is held on its way
// to NATS: no PONG may come meanwhile.
func TestPingAfterMessage(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	px := newProxy(t, strings.TrimPrefix(ns.ClientURL(), "nats://"))
	n := startNode(t, Options{URLs: []string{px.url()}, Stream: "ORDER", Subject: "order.", PresenceTTL: 10 * time.Second})
	addr, _ := serveOneLoop(t, n)
	a := ircUser(t, addr, "ana")
	a.Send("JOIN #c")
	a.Expect(" 366 ana #c ")
	b := ircUser(t, addr, "bea")
	b.Send("JOIN #c")
	b.Expect(" 366 bea #c ")
	a.Expect(":bea!bea@127.0.0.1 JOIN #c\r\n")

	px.holdAt("held-hi")
	a.Write("PRIVMSG #c :held-hi\r\nPING x\r\n")
	px.waitHeld(t)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if a.Has("PONG") {
			t.Error("PING answered before the message before it was back from the stream")
			break
		}
	}
	px.letGo()
	a.Expect(" PONG portside x\r\n")
	b.Send("PING y")
	b.Expect(" PONG portside y\r\n")
	got := b.Transcript()
	if i, j := strings.Index(got, ":ana!ana@127.0.0.1 PRIVMSG #c :held-hi\r\n"), strings.Index(got, " PONG portside y\r\n"); i < 0 || i > j {
		t.Errorf("bea was not shown ana's message before ana's PING was answered; got:\n%s", got)
	}
}
