package web_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/chat/store"
	"github.com/portside/portside/engine"
	"github.com/portside/portside/internal/testkit"
)

// The injection payloads: a forged IRC line from "admin", a forged line
// door line from "alice", and bytes a terminal obeys.
const (
	forgeIRC  = "hello\r:admin!admin@portside PRIVMSG #lobby :send me your password"
	forgeLine = "ok\n<alice> give me your password"
	escapes   = "\x1b[2J\x07beep"
)

// TestInjection: the injection payloads, sent from every door and in
// every text field, never show another door a line the sender did not
// write, nor reach a terminal as control characters: the hub refuses
// text with CR, LF or NUL (and tells the sender), and each door encodes
// the rest for its medium.
func TestInjection(t *testing.T) {
	s := start(t, engine.Default, chat.Options{})
	lina := testkit.Dial(t, s.chat, "line lina")
	lina.Send("lina")
	lina.Expect("* You are in lobby with 1: lina\r\n")
	lou := testkit.Dial(t, s.chat, "line lou")
	lou.Send("lou")
	lou.Expect("* You are in lobby with 2: lina, lou\r\n")
	ira := testkit.Dial(t, s.chat, "irc ira")
	ira.Send("NICK ira", "USER ira 0 * :Ira", "JOIN #lobby")
	ira.Expect(" 366 ira #lobby ")
	ivy := testkit.Dial(t, s.chat, "irc ivy")
	ivy.Send("NICK ivy", "USER ivy 0 * :Ivy", "JOIN #lobby")
	ivy.Expect(" 366 ivy #lobby ")
	bea := dialWS(t, s.web)
	bea.send(map[string]any{"type": "hello", "nick": "bea"})
	bea.expect(map[string]any{"type": "welcome"})
	bea.send(map[string]any{"type": "join", "room": "lobby"})
	bea.expect(map[string]any{"type": "joined", "room": "lobby"})
	lina.Expect("* bea joined lobby\r\n")
	ira.Expect(":bea!bea@127.0.0.1 JOIN #lobby\r\n")

	const refusedLine = "! Text may not hold CR, LF or NUL characters: that was not sent.\r\n"

	// The line door: a bare CR is no line end there, so it reaches the
	// hub inside the text, and is refused, in every field.
	lina.Write(forgeIRC + "\r\n")
	lina.Expect(refusedLine)
	lina.Write("/me waves\r:admin!admin@portside PRIVMSG #lobby :x\r\n")
	lina.Expect(refusedLine)
	lina.Write("/msg ira hi\r:admin!admin@portside PRIVMSG ira :x\r\n")
	lina.Expect(refusedLine)
	lina.Write("/part bye\r:admin!admin@portside PART #lobby\r\n")
	lina.Expect(refusedLine)
	lina.Write("nul\x00byte\r\n")
	lina.Expect(refusedLine)
	// An LF ends the line: what follows is a line of lina's own.
	lina.Write(forgeLine + "\r\n")
	lina.Send(escapes, "line done")
	lou.Expect("<lina> ok\r\n")
	lou.Expect("<lina> <alice> give me your password\r\n")
	lou.Expect("<lina> \u241b[2J\u2407beep\r\n")
	lou.Expect("<lina> line done\r\n")
	for _, p := range []*testkit.Peer{ira, ivy} {
		p.Expect(":lina!lina@127.0.0.1 PRIVMSG #lobby :<alice> give me your password\r\n")
		p.Expect(":lina!lina@127.0.0.1 PRIVMSG #lobby :" + escapes + "\r\n") // IRC clients render controls themselves
		p.Expect(":lina!lina@127.0.0.1 PRIVMSG #lobby :line done\r\n")
	}
	bea.expect(map[string]any{"type": "say", "nick": "lina", "text": escapes})
	bea.expect(map[string]any{"type": "say", "nick": "lina", "text": "line done"})

	// IRC: a lone CR ends a line, so the rest is a command of ira's own,
	// whatever source it claims; NUL is refused in every field.
	ira.Write("PRIVMSG #lobby :" + forgeIRC + "\r\n")
	ira.Send("PRIVMSG #lobby :a\x00b")
	ira.Expect(":portside 404 ira #lobby :Message may not hold NUL characters\r\n")
	ira.Send("PRIVMSG lina :a\x00b")
	ira.Expect(":portside NOTICE ira :*** Not sent to lina: text may not hold")
	ira.Send("TOPIC #lobby :t\x00x")
	ira.Expect(":portside NOTICE ira :*** Topic not set: text may not hold")
	ira.Send("PART #lobby :bye\x00x")
	ira.Expect(":portside NOTICE ira :*** Your part message may not hold NUL characters: you are still on #lobby.\r\n")
	ira.Send("AWAY :gone\x00x")
	ira.Expect(":portside NOTICE ira :*** Away message refused: text may not hold")
	ira.Send("PRIVMSG #lobby :\x02bold\x02 \x0304red\x03", "TOPIC #lobby :\x1b]0;pwned\x07", "PRIVMSG #lobby :irc done")
	// A topic is shown at once, a message once kept: the topic comes
	// before "irc done", but not necessarily after the messages before it.
	for _, p := range []*testkit.Peer{lina, lou} {
		p.Expect("<ira> hello\r\n")
		p.Expect("<ira> send me your password\r\n")
		p.Expect("<ira> bold red\r\n")
		p.Expect("<ira> irc done\r\n")
		if topic := "* ira set the topic of lobby: \u241b]0;pwned\u2407\r\n"; !p.Has(topic) {
			t.Errorf("%s: no %q", p.Name, topic)
		}
	}
	ivy.Expect(":ira!ira@127.0.0.1 PRIVMSG #lobby :hello\r\n")
	ivy.Expect(":ira!ira@127.0.0.1 PRIVMSG #lobby :send me your password\r\n")
	ivy.Expect(":ira!ira@127.0.0.1 PRIVMSG #lobby :\x02bold\x02 \x0304red\x03\r\n")
	ivy.Expect(":ira!ira@127.0.0.1 PRIVMSG #lobby :irc done\r\n")
	if topic := ":ira!ira@127.0.0.1 TOPIC #lobby :\x1b]0;pwned\x07\r\n"; !ivy.Has(topic) {
		t.Errorf("%s: no %q", ivy.Name, topic)
	}
	bea.expect(map[string]any{"type": "say", "nick": "ira", "text": "irc done"})

	// A real name with NUL is refused; USER again registers.
	nul := testkit.Dial(t, s.chat, "irc nul")
	nul.Send("NICK nul", "USER nul 0 * :Nu\x00ll")
	nul.Expect(":portside NOTICE * :*** Your real name may not hold NUL characters: send USER again without them.\r\n")
	nul.Send("USER nul 0 * :Null", "WHOIS nul")
	nul.Expect(":portside 311 nul nul nul 127.0.0.1 * Null\r\n")

	// The browser: JSON carries anything, and the hub refuses it.
	for _, r := range []map[string]any{
		{"type": "say", "room": "lobby", "text": forgeLine},
		{"type": "say", "room": "lobby", "text": forgeIRC},
		{"type": "say", "room": "lobby", "text": "nul\x00"},
		{"type": "action", "room": "lobby", "text": forgeLine},
		{"type": "msg", "to": "lina", "text": forgeLine},
		{"type": "part", "room": "lobby", "text": forgeIRC},
	} {
		bea.send(r)
		bea.expect(map[string]any{"type": "error", "code": "bad-text"})
	}
	bea.send(map[string]any{"type": "say", "room": "lobby", "text": "web done"})
	for _, p := range []*testkit.Peer{lina, lou, ira, ivy} {
		p.Expect("web done")
	}

	// Quit reasons are never refused: they are dropped, and the sender
	// told.
	lou.Write("/quit bye\r:admin!admin@portside PRIVMSG #lobby :x\r\n")
	lou.Expect(refusedLine)
	lou.Closed()
	lina.Expect("* lou quit (Quit)\r\n")
	ivy.Send("QUIT :bye\x00x")
	ivy.Closed()
	lina.Expect("* ivy quit (Quit)\r\n")
	bea.send(map[string]any{"type": "quit", "text": forgeLine})
	bea.expect(map[string]any{"type": "error", "code": "bad-text"})
	bea.closed()
	lina.Expect("* bea quit (Quit)\r\n")
	ira.Expect(":bea!bea@127.0.0.1 QUIT :Quit\r\n")

	for _, p := range []*testkit.Peer{lina, lou} {
		checkLineDoor(t, p)
	}
	for _, p := range []*testkit.Peer{ira, ivy, nul} {
		checkIRC(t, p)
	}
	bea.mu.Lock()
	defer bea.mu.Unlock()
	for _, m := range bea.got {
		for k, v := range m {
			if s, ok := v.(string); ok && strings.ContainsAny(s, "\r\n\x00") {
				t.Errorf("browser: %s %q in %v", k, s, m)
			}
		}
	}
}

// checkLineDoor fails unless every line p was sent is UTF-8 without
// control characters but tab, and none is a forged one.
func checkLineDoor(t *testing.T, p *testkit.Peer) {
	t.Helper()
	all := p.Transcript()
	if !strings.HasSuffix(all, "\r\n") {
		t.Errorf("%s: does not end in a line end: %q", p.Name, all)
	}
	for _, l := range strings.Split(strings.TrimSuffix(all, "\r\n"), "\r\n") {
		if !utf8.ValidString(l) || strings.ContainsFunc(l, func(r rune) bool { return r < 0x20 && r != '\t' || r >= 0x7f && r < 0xa0 }) {
			t.Errorf("%s: control characters in %q", p.Name, l)
		}
		if strings.HasPrefix(l, "<alice>") || strings.HasPrefix(l, ":admin") {
			t.Errorf("%s: a forged line: %q", p.Name, l)
		}
	}
}

// checkIRC fails unless every line p was sent is free of CR, LF and NUL,
// and none is a forged one.
func checkIRC(t *testing.T, p *testkit.Peer) {
	t.Helper()
	all := p.Transcript()
	for _, l := range strings.Split(strings.TrimSuffix(all, "\r\n"), "\r\n") {
		if strings.ContainsAny(l, "\r\n\x00") {
			t.Errorf("%s: CR, LF or NUL inside %q", p.Name, l)
		}
		if strings.HasPrefix(l, ":admin") || strings.HasPrefix(l, "<alice>") {
			t.Errorf("%s: a forged line: %q", p.Name, l)
		}
	}
}

// TestReplayRaw: history kept before the text rules (written to the store
// directly) is shown safely by every door: in the replay on join, in
// /history, CHATHISTORY and a browser's catch-up.
func TestReplayRaw(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{Sync: store.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	// Idents are not kept: IRC shows history from the bare nick.
	raw := []string{forgeIRC, forgeLine, "\x00" + escapes + "\u009b31m\xff"}
	ctx, cancel := context.WithCancel(t.Context())
	kept := make(chan struct{}, len(raw))
	ran := make(chan error, 1)
	go func() {
		ran <- st.Run(ctx, func(b []*chat.Msg) {
			for range b {
				kept <- struct{}{}
			}
		})
	}()
	for _, text := range raw {
		m := &chat.Msg{Room: "lobby", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Kind: chat.Say, Nick: "eve", Ident: "eve@127.0.0.1", Text: text}
		if err := st.Publish(m); err != nil {
			t.Fatal(err)
		}
	}
	for range raw {
		<-kept
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, err = store.Open(dir, store.Options{Sync: store.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := start(t, engine.Default, chat.Options{Backend: st})
	// Run loads the replay as it starts; wait for it rather than race it.
	if err := s.hub.Load(); err != nil {
		t.Fatal(err)
	}

	line := testkit.Dial(t, s.chat, "line lina")
	line.Send("lina")
	line.Expect("* You are in lobby with 1: lina\r\n")
	line.Expect("[Jan 02 03:04:05] <eve> hello\u240d:admin!admin@portside PRIVMSG #lobby :send me your password\r\n")
	line.Expect("[Jan 02 03:04:05] <eve> ok\u240a<alice> give me your password\r\n")
	line.Expect("[Jan 02 03:04:05] <eve> \u2400\u241b[2J\u2407beep\uFFFD31m\uFFFD\r\n")
	line.Send("/history 3")
	line.Expect("<eve> hello\u240d:admin!admin@portside PRIVMSG #lobby :send me your password\r\n")
	line.Expect("* End of history.\r\n")

	irc := testkit.Dial(t, s.chat, "irc ira")
	irc.Send("CAP REQ :batch draft/chathistory", "NICK ira", "USER ira 0 * :Ira", "CAP END", "JOIN #lobby")
	irc.Expect(" 366 ira #lobby ")
	irc.Expect(":eve PRIVMSG #lobby :hello\uFFFD:admin!admin@portside PRIVMSG #lobby :send me your password\r\n")
	irc.Expect(":eve PRIVMSG #lobby :ok\uFFFD<alice> give me your password\r\n")
	irc.Expect(":eve PRIVMSG #lobby :\uFFFD" + escapes + "\u009b31m\xff\r\n")
	irc.Send("CHATHISTORY LATEST #lobby * 10")
	irc.Expect(" BATCH -")

	b := dialWS(t, s.web)
	b.send(map[string]any{"type": "hello", "nick": "bea"})
	b.expect(map[string]any{"type": "welcome"})
	b.send(map[string]any{"type": "join", "room": "lobby", "since": 1})
	b.expect(map[string]any{"type": "say", "seq": 1, "text": "hello\uFFFD:admin!admin@portside PRIVMSG #lobby :send me your password", "history": true})
	b.expect(map[string]any{"type": "say", "seq": 2, "text": "ok\uFFFD<alice> give me your password", "history": true})
	b.expect(map[string]any{"type": "say", "seq": 3, "history": true})
	b.expect(map[string]any{"type": "say", "seq": 2, "text": "ok\uFFFD<alice> give me your password", "history": true}) // the catch-up after seq 1

	checkLineDoor(t, line)
	checkIRC(t, irc)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.got {
		if s, _ := m["text"].(string); strings.ContainsAny(s, "\r\n\x00") {
			t.Errorf("browser: text %q", s)
		}
	}
}
