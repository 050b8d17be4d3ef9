package web_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/engine"
	"github.com/portside/portside/internal/testkit"
)

// closedWith waits for the server to close p, and checks the close frame's
// code and that its reason holds reason.
func (p *wsPeer) closedWith(code int, reason string) {
	p.t.Helper()
	p.closed()
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	var ce wsutil.ClosedError
	if !errors.As(err, &ce) || int(ce.Code) != code || !strings.Contains(ce.Reason, reason) {
		p.t.Errorf("closed with %v; want %d %q", err, code, reason)
	}
}

// TestRegisterTimeout: browsers that do not log in in time, silent or
// not, are told why and closed.
func TestRegisterTimeout(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		s := start(t, name, chat.Options{Now: time.Now, RegisterTimeout: time.Second, Password: "sesame"})
		var peers []*wsPeer
		for range 20 {
			peers = append(peers, dialWS(t, s.web))
		}
		asks := dialWS(t, s.web)
		asks.send(map[string]any{"type": "rooms"})
		asks.expect(map[string]any{"type": "error", "code": "hello-first"})
		for _, p := range append(peers, asks) {
			p.closedWith(1008, "registration timed out after 1s")
		}
		in := dialWS(t, s.web)
		in.send(map[string]any{"type": "hello", "nick": "bea", "password": "sesame"})
		in.expect(map[string]any{"type": "welcome"})
	})
}

// TestFloodBeforeLogin: flood control counts a browser's requests from the
// first, logged in or not.
func TestFloodBeforeLogin(t *testing.T) {
	s := start(t, engine.Default, chat.Options{FloodRate: 1, FloodBurst: 3})
	p := dialWS(t, s.web)
	for range 10 {
		p.send(map[string]any{"type": "who", "room": "lobby"})
	}
	p.expect(map[string]any{"type": "error", "code": "flood"})
	p.closedWith(1008, "excess flood")
}

// TestMaxConnsPerIP: the cap on one address's connections counts the
// browser door's with the others'.
func TestMaxConnsPerIP(t *testing.T) {
	s := start(t, engine.Default, chat.Options{MaxConnsPerIP: 2, LimitLoopback: true})
	line := testkit.Dial(t, s.chat, "lina")
	line.Send("lina")
	line.Expect("Hello lina!")
	b := dialWS(t, s.web)
	b.send(map[string]any{"type": "hello", "nick": "bea"})
	b.expect(map[string]any{"type": "welcome"})
	refused := dialWS(t, s.web)
	refused.expect(map[string]any{"type": "error", "code": "too-many"})
	refused.closedWith(1008, "too many connections from your address")
}

// TestPasswordDelay: wrong passwords make the address's next ones wait,
// on the browser door too; the right one still gets in after its wait.
func TestPasswordDelay(t *testing.T) {
	const wait = 50 * time.Millisecond
	s := start(t, engine.Default, chat.Options{Now: time.Now, Password: "sesame", PasswordDelay: wait, PasswordDelayMax: wait})
	const n = 10
	begin := time.Now()
	for range n {
		p := dialWS(t, s.web)
		p.send(map[string]any{"type": "hello", "nick": "bea", "password": "guess"})
		p.expect(map[string]any{"type": "error", "code": "password"})
		p.closedWith(1008, "wrong password")
	}
	// Each after the first waited its turn.
	if took, least := time.Since(begin), (n-1)*wait; took < least*9/10 {
		t.Errorf("%d wrong passwords took %v; the waits alone are %v", n, took, least)
	}
	p := dialWS(t, s.web)
	p.send(map[string]any{"type": "hello", "nick": "bea", "password": "sesame"})
	p.expect(map[string]any{"type": "welcome"})
}
