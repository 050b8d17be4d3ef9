package web_test

import (
	"testing"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/engine"
	"github.com/portside/portside/internal/testkit"
)

// TestModeRequests: the browser's moderation requests and their refusals,
// in JSON: an operator's mode, kick and invite; a non-operator's, refused
// (not-op); a join refused for a key, a ban and +i; the prefixes in
// members; bad input refused with its code and nothing changed.
func TestModeRequests(t *testing.T) {
	s := start(t, engine.Default, chat.Options{})
	ana := dialWS(t, s.web)
	ana.send(map[string]any{"type": "hello", "nick": "ana"})
	ana.send(map[string]any{"type": "join", "room": "dev"})
	ana.expect(map[string]any{"type": "members", "room": "dev", "prefixes": map[string]any{"ana": "@"}})
	bob := dialWS(t, s.web)
	bob.send(map[string]any{"type": "hello", "nick": "bob"})
	bob.send(map[string]any{"type": "join", "room": "dev"})
	bob.expect(map[string]any{"type": "members", "room": "dev"})
	ana.expect(map[string]any{"type": "join", "room": "dev", "nick": "bob"})

	bob.send(map[string]any{"type": "mode", "room": "dev", "text": "+m"})
	bob.expect(map[string]any{"type": "error", "code": "not-op", "room": "dev"})
	bob.send(map[string]any{"type": "kick", "room": "dev", "target": "ana"})
	bob.expect(map[string]any{"type": "error", "code": "not-op", "room": "dev"})

	for _, tc := range []struct{ text, code string }{
		{"+x", "unknown-mode"}, {"+l 0", "bad-mode-param"}, {"+l -2", "bad-mode-param"},
		{"+k waytoolongforakeyofthisroom", "bad-mode-param"}, {"+o zed", "no-such-nick"}, {"+b a,b", "bad-mode-param"},
	} {
		ana.send(map[string]any{"type": "mode", "room": "dev", "text": tc.text})
		ana.expect(map[string]any{"type": "error", "code": tc.code, "room": "dev"})
	}
	ana.send(map[string]any{"type": "mode", "room": "dev", "text": ""})
	ana.expect(map[string]any{"type": "modes", "room": "dev", "modes": "+n"})

	ana.send(map[string]any{"type": "mode", "room": "dev", "text": "+v bob"})
	bob.expect(map[string]any{"type": "mode", "room": "dev", "nick": "ana", "text": "+v bob"})
	ana.send(map[string]any{"type": "who", "room": "dev"})
	ana.expect(map[string]any{"type": "members", "room": "dev", "prefixes": map[string]any{"ana": "@", "bob": "+"}})

	ana.send(map[string]any{"type": "mode", "room": "dev", "text": "+bk bob sesame"})
	bob.expect(map[string]any{"type": "mode", "room": "dev", "text": "+bk bob!*@* sesame"})
	ana.send(map[string]any{"type": "kick", "room": "dev", "target": "bob", "text": "spam"})
	bob.expect(map[string]any{"type": "kick", "room": "dev", "nick": "ana", "target": "bob", "text": "spam"})
	ana.expect(map[string]any{"type": "kick", "room": "dev", "nick": "ana", "target": "bob", "text": "spam"})
	bob.send(map[string]any{"type": "join", "room": "dev", "key": "sesame"})
	bob.expect(map[string]any{"type": "error", "code": "banned", "room": "dev"})
	ana.send(map[string]any{"type": "mode", "room": "dev", "text": "-b bob"})
	ana.expect(map[string]any{"type": "mode", "room": "dev", "text": "-b bob!*@*"})
	bob.send(map[string]any{"type": "join", "room": "dev", "key": "wrong"})
	bob.expect(map[string]any{"type": "error", "code": "bad-key", "room": "dev"})
	ana.send(map[string]any{"type": "mode", "room": "dev", "text": "+i"})
	ana.expect(map[string]any{"type": "mode", "room": "dev", "text": "+i"})
	bob.send(map[string]any{"type": "join", "room": "dev", "key": "sesame"})
	bob.expect(map[string]any{"type": "error", "code": "invite-only", "room": "dev"})
	ana.send(map[string]any{"type": "invite", "room": "dev", "target": "bob"})
	bob.expect(map[string]any{"type": "invite", "room": "dev", "nick": "ana", "to": "bob"})
	bob.send(map[string]any{"type": "join", "room": "dev", "key": "sesame"})
	bob.expect(map[string]any{"type": "joined", "room": "dev"})

	// The line door sees the same room.
	line := testkit.Dial(t, s.chat, "lina")
	line.Send("lina", "/join dev sesame")
	line.Expect("! dev is invite only")
	ana.send(map[string]any{"type": "mode", "room": "dev", "text": "-i"})
	ana.expect(map[string]any{"type": "mode", "room": "dev", "text": "-i"})
	line.Send("/join dev sesame", "/who")
	line.Expect("* In dev (3): @ana, bob, lina\r\n")
}
