package chat

import (
	"sync/atomic"
	"testing"
)

// asker stands in for a client that, on every line it is given, at once
// asks WHOWAS about a nick: as a quick client does on seeing a QUIT.
type asker struct {
	h     *Hub
	nick  string
	armed atomic.Bool
	found []int // WhoWas(nick) entries seen at each write once armed
}

func (a *asker) Write([]byte) error {
	if a.armed.Load() {
		a.found = append(a.found, len(a.h.WhoWas(a.nick, 0)))
	}
	return nil
}

func (a *asker) Close() error { return nil }

// TestWhowasBeforeTold: a peer told of a quit or a rename finds the old
// nick in WHOWAS at once. It used to be recorded after the peers were
// told, so a client that saw the QUIT and asked WHOWAS could be told
// there was no such nickname.
func TestWhowasBeforeTold(t *testing.T) {
	for _, how := range []string{"quit", "rename"} {
		t.Run(how, func(t *testing.T) {
			h := New(Options{})
			a := &asker{h: h, nick: "carol"}
			bob := h.NewMember(a, nopDoor{}, h.lineFmt, false)
			carol := h.NewMember(new(sink), nopDoor{}, h.lineFmt, false)
			for m, nick := range map[*Member]string{bob: "bob", carol: "carol"} {
				if err := h.Register(m, nick, nick+"@h", nick, nil); err != nil {
					t.Fatal(err)
				}
				if err := h.Join(m, "lobby", nil, nil); err != nil {
					t.Fatal(err)
				}
			}
			a.armed.Store(true)
			if how == "quit" {
				h.Quit(carol, "bye")
			} else if err := h.Rename(carol, "carla", nil); err != nil {
				t.Fatal(err)
			}
			if len(a.found) == 0 {
				t.Fatalf("bob was not told of the %s", how)
			}
			for _, n := range a.found {
				if n != 1 {
					t.Fatalf("bob, told of the %s, found %d WHOWAS entries for carol, want 1", how, n)
				}
			}
		})
	}
}
