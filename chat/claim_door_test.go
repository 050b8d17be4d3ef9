package chat_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/chat/chattest"
	"github.com/portside/portside/engine/epoll"
	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/server"
)

type registry = chattest.Registry

func newRegistry(elsewhere ...string) *registry { return chattest.NewRegistry(elsewhere...) }

const testTimeout = 10 * time.Second

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

// startOneLoop serves a hub on r with the epoll engine's single event
// loop: a handler that blocked would stall every connection.
func startOneLoop(t *testing.T, r *registry) (string, *chat.Hub, chan struct{}) {
	t.Helper()
	hub := chat.New(chat.Options{Backend: r, FloodRate: -1, Now: (&clock{now: pinned}).Now})
	testkit.Background(t, "hub", hub.Run)
	closed := make(chan struct{}, 1)
	eng := epoll.New(epoll.Options{Loops: 1})
	ln, err := server.Listen(t.Context(), eng, "tcp", "127.0.0.1:0", "chat")
	if err != nil {
		t.Fatal(err)
	}
	s := &server.Service{Name: "chat", Handler: closeSignal{hub.Handler(), closed}}
	testkit.Background(t, "chat: Serve", func(ctx context.Context) error { return eng.Serve(ctx, ln, s) })
	return ln.Addr().String(), hub, closed
}

// registered connects an IRC client and a line-door client already
// through registration.
func registered(t *testing.T, addr string) (irc, line *peer) {
	t.Helper()
	irc = dial(t, addr, "ana")
	irc.Send("NICK ana", "USER ana 0 * :Ana")
	irc.Expect(" 001 ana ")
	line = dial(t, addr, "dan")
	line.Send("dan")
	line.Expect("Hello dan!")
	return irc, line
}

// TestClaimWaits: while a newcomer's nick claim is out, the event loop
// serves the others; then the newcomer is welcomed and what it sent
// meanwhile is handled, in order.
func TestClaimWaits(t *testing.T) {
	tests := []struct {
		name string
		nick string
		sent string   // all in one write, right after connecting
		want []string // in this order, once the claim is answered
	}{
		{
			name: "irc",
			nick: "bea",
			sent: "NICK bea\r\nUSER bea 0 * :Bea\r\nJOIN #x\r\nPING :later\r\n",
			want: []string{" 001 bea ", " 422 bea ", ":bea!bea@127.0.0.1 JOIN #x", "PONG portside later"},
		},
		{
			name: "line",
			nick: "cyd",
			sent: "cyd\r\n/join x\r\n/who\r\n",
			want: []string{"Hello cyd!", "* You are in lobby with", "* You are in x with 1: cyd", "* In x (1): @cyd"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRegistry()
			addr, _, _ := startOneLoop(t, r)
			irc, line := registered(t, addr)

			r.Hold()
			p := dial(t, addr, tt.nick)
			if _, err := p.Conn.Write([]byte(tt.sent)); err != nil {
				t.Fatal(err)
			}
			r.WaitClaim(t, tt.nick)
			irc.Send("PING :check")
			irc.Expect("PONG portside check")
			line.Send("/rooms")
			line.Expect("* Rooms: lobby (1)")
			if got := p.Transcript(); got != "" {
				t.Fatalf("%s was answered before its claim: %q", tt.nick, got)
			}

			r.LetGo()
			for _, w := range tt.want {
				p.Expect(w)
			}
		})
	}
}

// TestClaimQuit: a client that leaves while its claim is out gets no nick;
// the claim is released.
func TestClaimQuit(t *testing.T) {
	r := newRegistry()
	addr, hub, closed := startOneLoop(t, r)
	irc, _ := registered(t, addr)
	r.Hold()
	p := dial(t, addr, "eve")
	p.Send("NICK eve", "USER eve 0 * :Eve")
	r.WaitClaim(t, "eve")
	p.Conn.Close()
	select {
	case <-closed:
	case <-time.After(testTimeout):
		t.Fatal("the server did not close the connection")
	}
	r.LetGo()
	chattest.WaitFor(t, r.Released, "eve", "release")
	if members, _ := hub.Counts(); members != 2 {
		t.Errorf("%d members, want 2 (ana, dan)", members)
	}
	irc.Send("ISON eve ana")
	irc.Expect(" 303 ana ana\r\n")
}

// TestClaimRename: NICK once registered waits for its claim too, and gets
// 433 when another node holds the nick.
func TestClaimRename(t *testing.T) {
	r := newRegistry("bob")
	addr, _, _ := startOneLoop(t, r)
	irc, line := registered(t, addr)
	tests := []struct {
		name string
		send string
		want []string
	}{
		{"held elsewhere", "NICK bob\r\nPING :after-bob\r\n", []string{" 433 ana bob ", "PONG portside after-bob"}},
		{"free", "NICK fay\r\nPING :after-fay\r\n", []string{":ana!ana@127.0.0.1 NICK :fay", "PONG portside after-fay"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			irc.In(t) // the peers outlive the subtest
			line.In(t)
			r.Hold()
			if _, err := irc.Conn.Write([]byte(tt.send)); err != nil {
				t.Fatal(err)
			}
			r.WaitClaim(t, strings.Fields(tt.send)[1])
			line.Send("/rooms")
			line.Expect("* Rooms:")
			if pong := tt.want[1]; irc.Has(pong) {
				t.Fatal("PING answered before the NICK before it")
			}
			r.LetGo()
			for _, w := range tt.want {
				irc.Expect(w)
			}
		})
	}
	var got []string
	for len(r.Released) > 0 {
		got = append(got, <-r.Released)
	}
	if !slices.Equal(got, []string{"ana"}) {
		t.Errorf("released %v, want [ana]: the old nick once renamed", got)
	}
}
