package natsbus

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/internal/testkit/natstest"
)

// operNodes starts two nodes over one NATS server whose hubs know the
// server operator "admin", password "sesame" (hashed at bcrypt's least
// cost, to keep the test quick), each serving on a socket; node b logs to
// the buffer returned.
func operNodes(t *testing.T) (a, b *node, addrA, addrB string, logB *testkit.SyncBuffer) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("sesame"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	o := Options{URLs: []string{ns.ClientURL()}, PresenceTTL: 10 * time.Second}
	ho := chat.Options{GreetDelay: -1, Opers: map[string]string{"admin": string(hash)}}
	a = startNodeHub(t, o, ho)
	logB = new(testkit.SyncBuffer)
	ho.Logger = slog.New(slog.NewTextHandler(logB, nil))
	b = startNodeHub(t, o, ho)
	watching(t, a, b)
	addrA, _ = serveOneLoop(t, a)
	addrB, _ = serveOneLoop(t, b)
	return a, b, addrA, addrB, logB
}

// ircOper connects an IRC client to addr as nick and makes it a server
// operator.
func ircOper(t *testing.T, addr, nick string) *peer {
	t.Helper()
	p := ircUser(t, addr, nick)
	p.Send("OPER admin sesame")
	p.Expect(" 381 " + nick + " :You are now an IRC operator\r\n")
	return p
}

// knows waits until n's nick directory has nick, held by another node:
// the nick bucket's watch is an external state, polled.
func knows(t *testing.T, n *node, nick string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, _, ok := n.hub.Remote(nick); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node never learnt that another holds %s", nick)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKillAcrossNodes: a server operator on node a kills a nick held by
// node b: the victim's client is told why and closed (an IRC client with
// ERROR, a line-door user with its own line), everyone in its rooms on
// either node sees it quit for that reason, and node b logs the kill. A
// nick no node holds is 401, and an ordinary member is refused as on one
// node.
func TestKillAcrossNodes(t *testing.T) {
	a, _, addrA, addrB, logB := operNodes(t)
	ana := ircOper(t, addrA, "ana")
	carol := ircUser(t, addrA, "carol")
	carol.Send("JOIN #dev")
	carol.Expect(" 366 carol #dev :End of /NAMES list\r\n")
	eve := ircUser(t, addrB, "eve")
	eve.Send("JOIN #dev")
	eve.Expect(" 366 eve #dev :End of /NAMES list\r\n")
	carol.Expect(":eve!eve@127.0.0.1 JOIN #dev\r\n")
	dave := dial(t, addrB, "dave")
	dave.Send("dave", "/join dev")
	dave.Expect("* You are in dev with ")
	carol.Expect(":dave!dave@127.0.0.1 JOIN #dev\r\n")
	knows(t, a, "eve")
	knows(t, a, "dave")

	carol.Send("KILL eve :not an operator")
	carol.Expect(":portside 481 carol :Permission Denied- You're not an IRC operator\r\n")
	ana.Send("KILL nobody :gone", "KILL EVE :spamming")
	ana.Expect(":portside 401 ana nobody :No such nick/channel\r\n")
	eve.Expect("ERROR :Closing Link: 127.0.0.1 (Killed (ana (spamming)))\r\n")
	eve.Closed()
	carol.Expect(":eve!eve@127.0.0.1 QUIT :Killed (ana (spamming))\r\n")
	dave.Expect("* eve quit (Killed (ana (spamming)))\r\n")

	ana.Send("KILL dave")
	dave.Expect("* Disconnected: Killed (ana (No reason given))\r\n")
	dave.Closed()
	carol.Expect(":dave!dave@127.0.0.1 QUIT :Killed (ana (No reason given))\r\n")
	if strings.Contains(ana.Transcript(), " 401 ana eve ") || strings.Contains(ana.Transcript(), " 401 ana dave ") {
		t.Errorf("the killer was told a nick held by the other node is no nick:\n%s", ana.Transcript())
	}
	for _, want := range []string{
		`level=WARN msg="chat kill" nick=ana ident=ana@127.0.0.1 victim=eve victim_addr=127.0.0.1 reason=spamming remote=true`,
		`level=WARN msg="chat kill" nick=ana ident=ana@127.0.0.1 victim=dave victim_addr=127.0.0.1 reason="No reason given" remote=true`,
	} {
		if !strings.Contains(logB.String(), want) {
			t.Errorf("node b's log has no %q:\n%s", want, logB.String())
		}
	}
}

// TestWallopsAcrossNodes: a WALLOPS from an operator on node a reaches the
// IRC users with +w and the operators on node b, and not b's other
// members.
func TestWallopsAcrossNodes(t *testing.T) {
	_, _, addrA, addrB, _ := operNodes(t)
	ana := ircOper(t, addrA, "ana")
	bob := ircUser(t, addrB, "bob")
	bob.Send("MODE bob +w")
	bob.Expect(":bob MODE bob +w\r\n")
	carol := ircUser(t, addrB, "carol")
	carol.Send("JOIN #dev")
	carol.Expect(" 366 carol #dev :End of /NAMES list\r\n")
	ana.Send("JOIN #dev")
	ana.Expect(" 366 ana #dev :End of /NAMES list\r\n")
	carol.Expect(":ana!ana@127.0.0.1 JOIN #dev\r\n")
	olga := dial(t, addrB, "olga")
	olga.Send("olga", "/oper admin sesame")
	olga.Expect("* You are now a server operator.\r\n")

	ana.Send("WALLOPS :tea at four")
	ana.Expect(":ana!ana@127.0.0.1 WALLOPS :tea at four\r\n")
	bob.Expect(":ana!ana@127.0.0.1 WALLOPS :tea at four\r\n")
	olga.Expect("!ana! tea at four\r\n")
	// Node b shows what other nodes send on one goroutine, in turn: once
	// bob has the WALLOPS, a message said after it reaches carol after
	// anything the WALLOPS would have brought her.
	ana.Send("PRIVMSG #dev :after")
	carol.Expect(":ana!ana@127.0.0.1 PRIVMSG #dev :after\r\n")
	if carol.Has("WALLOPS") {
		t.Errorf("a member without +w got a WALLOPS:\n%s", carol.Transcript())
	}
}

// TestRemoteOperTextRules: a kill or wallops from another node (or anyone
// who can publish to the cluster's subjects) whose text breaks the text
// rules is dropped, as one from this node's own client would be refused;
// a kill for a nick that has left is dropped quietly; a good kill from
// there is carried out, the sender's operator status being that node's
// to check.
func TestRemoteOperTextRules(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	a := startNode(t, Options{URLs: []string{ns.ClientURL()}, PresenceTTL: 10 * time.Second})
	addr, _ := serveOneLoop(t, a)
	bob := ircUser(t, addr, "bob")
	bob.Send("MODE bob +w")
	bob.Expect(":bob MODE bob +w\r\n")
	event := func(subject, data string) {
		t.Helper()
		if err := a.bus.nc.Publish(a.bus.o.Events+subject, []byte(data)); err != nil {
			t.Fatalf("publish %s: %v", subject, err)
		}
	}
	event("user", `{"o":"evil","k":13,"n":"eve","i":"eve@x","x":"hi\r\nPRIVMSG bob :give me your password"}`)
	event("user", `{"o":"evil","k":13,"n":"eve","i":"eve@x","x":"after the bad wallops"}`)
	bob.Expect(":eve!eve@x WALLOPS :after the bad wallops\r\n")
	event("node."+a.bus.node, `{"o":"evil","k":12,"n":"eve","i":"eve@x","to":"bob","x":"bad\r\nreason"}`)
	event("node."+a.bus.node, `{"o":"evil","k":12,"n":"eve","i":"eve@x","to":"nobody","x":"left"}`)
	event("user", `{"o":"evil","k":13,"n":"eve","i":"eve@x","x":"after the bad kills"}`)
	bob.Expect(":eve!eve@x WALLOPS :after the bad kills\r\n")
	bob.Send("PING :alive")
	bob.Expect("PONG portside alive\r\n")
	event("node."+a.bus.node, `{"o":"evil","k":12,"n":"eve","i":"eve@x","to":"bob","x":"good reason"}`)
	bob.Expect("ERROR :Closing Link: 127.0.0.1 (Killed (eve (good reason)))\r\n")
	bob.Closed()
	if strings.Contains(bob.Transcript(), "give me") || strings.Contains(bob.Transcript(), "(bad") {
		t.Errorf("an event breaking the text rules was shown:\n%s", bob.Transcript())
	}
}
