package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/engine/epoll"
	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/internal/testkit/natstest"
	"github.com/portside/portside/server"
)

// register is hub.Register waiting for the answer: on a Bus a nick is
// claimed from NATS first.
func register(hub *chat.Hub, m *chat.Member, nick, ident, real string) error {
	answer := make(chan error, 1)
	err := hub.Register(m, nick, ident, real, func(err error) { answer <- err })
	if errors.Is(err, chat.ErrPending) {
		return <-answer
	}
	return err
}

// rename is hub.Rename waiting for the answer.
func rename(hub *chat.Hub, m *chat.Member, nick string) error {
	answer := make(chan error, 1)
	err := hub.Rename(m, nick, func(err error) { answer <- err })
	if errors.Is(err, chat.ErrPending) {
		return <-answer
	}
	return err
}

// claimOf is what a node sends NATS to claim nick.
func claimOf(nick string) string { return "CHAT_NICKS." + nickKey(nick) }

// closeSignal is the chat handler telling the test that a connection's
// Close has run.
type closeSignal struct {
	*chat.Handler
	closed chan struct{}
}

func (h closeSignal) Close(c server.Conn, err error) {
	h.Handler.Close(c, err)
	select {
	case h.closed <- struct{}{}:
	default:
	}
}

// serveOneLoop serves n's hub with the epoll engine's single event loop: a
// handler that waited for NATS would stall every connection. It returns the
// address and a channel told of each connection closed.
func serveOneLoop(t *testing.T, n *node) (string, chan struct{}) {
	t.Helper()
	closed := make(chan struct{}, 1)
	eng := epoll.New(epoll.Options{Loops: 1})
	ln, err := server.Listen(t.Context(), eng, "tcp", "127.0.0.1:0", "chat")
	if err != nil {
		t.Fatal(err)
	}
	s := &server.Service{Name: "chat", Handler: closeSignal{n.hub.Handler(), closed}}
	testkit.Background(t, "chat: Serve", func(ctx context.Context) error { return eng.Serve(ctx, ln, s) })
	return ln.Addr().String(), closed
}

// peer is a chat client on a socket.
type peer = testkit.Peer

func dial(t *testing.T, addr, name string) *peer {
	p := testkit.Dial(t, addr, name)
	p.Wait = 20 * time.Second
	return p
}

// watching waits until each node's presence watch is up, so that the
// test does not stop a node while the watch is being set up: each node
// gets a member in room "watch", and each must see the others'.
func watching(t *testing.T, nodes ...*node) {
	t.Helper()
	var want []string
	for i, n := range nodes {
		nick := fmt.Sprintf("watch%d", i)
		n.member(t, nick, "watch")
		want = append(want, nick)
	}
	for _, n := range nodes {
		waitMembers(t, n, "watch", want)
	}
}

// ircUser connects an IRC client to addr and registers nick.
func ircUser(t *testing.T, addr, nick string) *peer {
	t.Helper()
	p := dial(t, addr, nick)
	p.Write("NICK " + nick + "\r\nUSER " + nick + " 0 * :" + nick + "\r\n")
	p.Expect(" 001 " + nick + " ")
	return p
}

// TestClaimWaitsForNATS: while NATS is slow to answer a newcomer's nick
// claim, the node's only event loop keeps serving its other clients; once
// NATS answers, the newcomer is welcomed and what it sent meanwhile is
// handled, in order.
func TestClaimWaitsForNATS(t *testing.T) {
	tests := []struct {
		name string
		nick string
		sent string   // in one write, right after connecting
		want []string // in this order, once NATS answers
	}{
		{
			// JOIN completes when the node has caught up with the room,
			// later still, but after the PING before it.
			name: "irc",
			nick: "bea",
			sent: "NICK bea\r\nUSER bea 0 * :Bea\r\nPING :first\r\nJOIN #x\r\n",
			want: []string{" 001 bea ", " 422 bea ", "PONG portside first", ":bea!bea@127.0.0.1 JOIN #x"},
		},
		{
			// The second claim, for /nick, holds /help in turn.
			name: "line",
			nick: "cyd",
			sent: "cyd\r\n/nick cyd2\r\n/help\r\n",
			want: []string{"Hello cyd!", "* cyd is now known as cyd2", "Commands:"},
		},
	}
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			px := newProxy(t, strings.TrimPrefix(ns.ClientURL(), "nats://"))
			o := Options{URLs: []string{px.url()}, Stream: "C" + tt.name, Subject: tt.name + ".", PresenceTTL: 10 * time.Second}
			a := startNode(t, o)
			o.URLs = []string{ns.ClientURL()}
			watching(t, a, startNode(t, o))
			addr, _ := serveOneLoop(t, a)
			ana := ircUser(t, addr, "ana")

			px.hold(strings.Replace(claimOf(tt.nick), "CHAT", o.Stream, 1))
			p := dial(t, addr, tt.nick)
			p.Write(tt.sent)
			px.waitHeld(t)
			ana.Write("PING :check\r\n")
			ana.Expect("PONG portside check")
			if got := p.Transcript(); got != "" {
				t.Fatalf("%s answered before NATS: %q", tt.nick, got)
			}

			px.letGo()
			for _, w := range tt.want {
				p.Expect(w)
			}
		})
	}
}

// TestClaimGoneWhileOut: a client that leaves while its nick claim is out
// does not keep the nick: once NATS answers, it is released, and a client
// of another node can take it.
func TestClaimGoneWhileOut(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	px := newProxy(t, strings.TrimPrefix(ns.ClientURL(), "nats://"))
	a := startNode(t, Options{URLs: []string{px.url()}, PresenceTTL: 10 * time.Second})
	b := startNode(t, Options{URLs: []string{ns.ClientURL()}, PresenceTTL: 10 * time.Second})
	watching(t, a, b)
	addr, closed := serveOneLoop(t, a)

	px.hold(claimOf("eve"))
	p := dial(t, addr, "eve")
	p.Write("NICK eve\r\nUSER eve 0 * :Eve\r\n")
	px.waitHeld(t)
	p.Conn.Close()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the node did not close the connection")
	}
	px.letGo()

	m := b.hub.NewMember(newRec(), door{}, b.format, false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := register(b.hub, m, "eve", "x@y", "x")
		if err == nil {
			break
		}
		if !errors.Is(err, chat.ErrNickInUse) || time.Now().After(deadline) {
			t.Fatalf("Register(eve) on another node after eve left: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling the bucket, an external state
	}
	if members, _ := a.hub.Counts(); members != 1 {
		t.Errorf("the first node has %d members, want 1 (watch0)", members)
	}
}

// TestRenameAcrossNodes: an IRC client's NICK is refused with 433 when a
// client of another node holds the nick, and granted when it is free.
func TestRenameAcrossNodes(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	a := startNode(t, Options{URLs: []string{ns.ClientURL()}, PresenceTTL: 10 * time.Second})
	b := startNode(t, Options{URLs: []string{ns.ClientURL()}, PresenceTTL: 10 * time.Second})
	watching(t, a, b)
	addr, _ := serveOneLoop(t, a)
	b.member(t, "bob", "lobby")
	ana := ircUser(t, addr, "ana")
	tests := []struct {
		nick string
		want string
	}{
		{"bob", " 433 ana bob :Nickname is already in use"},
		{"BOB", " 433 ana BOB :Nickname is already in use"},
		{"cyd", ":ana!ana@127.0.0.1 NICK :cyd"},
	}
	for _, tt := range tests {
		t.Run(tt.nick, func(t *testing.T) {
			ana.In(t) // ana outlives the subtest
			ana.Write("NICK " + tt.nick + "\r\nPING :" + tt.nick + "\r\n")
			ana.Expect(tt.want)
			ana.Expect("PONG portside " + tt.nick)
		})
	}
	m := b.hub.NewMember(newRec(), door{}, b.format, false)
	if err := register(b.hub, m, "cyd", "x@y", "x"); !errors.Is(err, chat.ErrNickInUse) {
		t.Errorf("Register(cyd) on another node after the rename = %v, want ErrNickInUse", err)
	}
}
