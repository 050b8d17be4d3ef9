package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/chat/chattest"
	"github.com/portside/portside/chat/web"
	"github.com/portside/portside/engine/epoll"
	"github.com/portside/portside/httpd"
	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/server"
)

// frames encodes requests as masked client text frames, back to back.
func frames(t *testing.T, reqs ...map[string]any) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, r := range reqs {
		b, _ := json.Marshal(r)
		if err := ws.WriteFrame(&buf, ws.MaskFrameInPlace(ws.NewTextFrame(b))); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestClaimWaits: while a browser's nick claim is out, the only event loop
// serves the other browsers; then the browser is welcomed and what it sent
// meanwhile is handled, in order.
func TestClaimWaits(t *testing.T) {
	r := chattest.NewRegistry()
	hub := chat.New(chat.Options{Backend: r, FloodRate: -1, GreetDelay: time.Hour})
	door := web.New(hub, web.Options{})
	var rt httpd.Router
	door.Mount(&rt)
	h, err := httpd.New(httpd.Options{Routes: &rt})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Background(t, "hub", hub.Run)
	t.Cleanup(func() { h.Stop() })
	eng := epoll.New(epoll.Options{Loops: 1})
	ln, err := server.Listen(t.Context(), eng, "tcp", "127.0.0.1:0", "web")
	if err != nil {
		t.Fatal(err)
	}
	s := &server.Service{Name: "web", Handler: h}
	testkit.Background(t, "web: Serve", func(ctx context.Context) error { return eng.Serve(ctx, ln, s) })
	addr := ln.Addr().String()

	ana := dialWS(t, addr)
	ana.send(map[string]any{"type": "hello", "nick": "ana"})
	ana.expect(map[string]any{"type": "welcome", "nick": "ana"})

	r.Hold()
	bea := dialWS(t, addr)
	if _, err := bea.c.Write(frames(t,
		map[string]any{"type": "hello", "nick": "bea"},
		map[string]any{"type": "join", "room": "x"},
		map[string]any{"type": "who", "room": "x"},
	)); err != nil {
		t.Fatal(err)
	}
	r.WaitClaim(t, "bea")
	ana.send(map[string]any{"type": "rooms"})
	ana.expect(map[string]any{"type": "rooms"})
	bea.mu.Lock()
	early := bea.dump()
	bea.mu.Unlock()
	if len(early) != 0 {
		t.Fatalf("bea answered before its claim: %v", early)
	}

	r.LetGo()
	bea.expect(map[string]any{"type": "welcome", "nick": "bea"})
	bea.expect(map[string]any{"type": "joined", "room": "x", "members": "[bea]"})
	bea.expect(map[string]any{"type": "members", "room": "x", "members": "[bea]"})
}
