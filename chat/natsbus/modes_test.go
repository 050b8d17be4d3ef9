package natsbus

import (
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/internal/testkit/natstest"
)

// TestModesAcrossNodes: two nodes over NATS share a room's operators and
// modes: the first member on either node is the room's operator, a ban set
// on one node holds on the other (a join there is refused), a mute set on
// one silences the other's members, a kick on one takes a member of the
// other out, and a node started later learns them all.
func TestModesAcrossNodes(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	o := Options{URLs: []string{ns.ClientURL()}, PresenceTTL: 10 * time.Second}
	ho := chat.Options{GreetDelay: -1}
	a := startNodeHub(t, o, ho)
	b := startNodeHub(t, o, ho)
	watching(t, a, b)
	addrA, _ := serveOneLoop(t, a)
	addrB, _ := serveOneLoop(t, b)

	ana := dial(t, addrA, "ana")
	ana.Send("ana", "/join dev")
	ana.Expect("* You are in dev with 1: ana\r\n")
	// Node b learns that ana is in dev, and is its operator, through the
	// presence and modes buckets.
	deadline := time.Now().Add(20 * time.Second)
	for len(b.bus.Elsewhere("dev")) == 0 || b.hub.Prefixes("dev")["ana"] != "@" {
		if time.Now().After(deadline) {
			t.Fatal("node b never learnt that ana is dev's operator")
		}
		time.Sleep(10 * time.Millisecond) // polling the buckets, an external state
	}
	bob := dial(t, addrB, "bob")
	bob.Send("bob", "/join dev")
	bob.Expect("* You are in dev with 2: ana, bob\r\n")
	ana.Expect("* bob joined dev\r\n")
	bob.Send("/mute") // bob, on b, is not the operator: ana, on a, is
	bob.Expect("! You are not an operator of dev.\r\n")
	bob.Send("/who")
	bob.Expect("* In dev (2): @ana, bob\r\n")

	ana.Send("/ban carol", "/mute")
	bob.Expect("* ana sets mode +b carol!*@*\r\n")
	bob.Expect("* ana sets mode +m\r\n")
	bob.Send("muted on b")
	bob.Expect("! dev is moderated")
	carol := dial(t, addrB, "carol")
	carol.Send("carol", "/join dev")
	carol.Expect("! You are banned from dev.\r\n")

	ana.Send("/kick bob bye")
	bob.Expect("* ana kicked bob (bye)\r\n")
	ana.Expect("* ana kicked bob (bye)\r\n")
	bob.Send("/who")
	bob.Expect("! You are in no room.\r\n")

	// A node started now learns the modes from the bucket (a join there
	// may come before the node has read it: then it is tried again).
	carol.Send("/quit")
	carol.Closed()
	c := startNodeHub(t, o, ho)
	addrC, _ := serveOneLoop(t, c)
	cy := dial(t, addrC, "carol on c")
	cy.Send("carol")
	cy.Expect("Hello carol!")
	for i := 1; ; i++ {
		cy.Send("/join dev")
		cy.Eventually(func(s string) bool {
			return strings.Count(s, "! You are banned from dev.")+strings.Count(s, "* You are in dev") >= i
		})
		if cy.Has("! You are banned from dev.") {
			break
		}
		if i == 50 {
			t.Fatalf("the ban never reached the third node:\n%s", cy.Transcript())
		}
		time.Sleep(100 * time.Millisecond) // polling the bucket, an external state
		cy.Send("/part")
	}
}
