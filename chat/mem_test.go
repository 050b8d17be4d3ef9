package chat

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/portside/portside/server/servertest"
)

// TestIdleMemory: the chat's own state for an idle, registered IRC client
// in a room (its conn, member, nick, room slot) stays small. The engine's
// per-connection cost comes on top.
func TestIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 15,000 clients")
	}
	hub := New(Options{GreetDelay: -1, FloodRate: -1, Now: fixedNow})
	h := hub.Handler()
	const n = 15000
	conns := make([]*servertest.Conn, n)
	for i := range conns {
		conns[i] = servertest.NewConn()
		conns[i].Discard()
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i, c := range conns {
		h.Open(c)
		in := []byte(fmt.Sprintf("NICK u%d\r\nUSER u 0 * :u\r\nJOIN #idle%d\r\n", i, i%50))
		if _, err := h.Data(c, in); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f bytes of chat state per idle IRC client", per)
	if per > 1024 {
		t.Errorf("%.0f bytes per idle IRC client; keep it under 1 KiB", per)
	}
	runtime.KeepAlive(conns)
}
