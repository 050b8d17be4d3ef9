package chat

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/portside/portside/server/servertest"
)

func TestCheckText(t *testing.T) {
	for _, tt := range []struct {
		text string
		ok   bool
	}{
		{"", true},
		{"hello, world", true},
		{"tab\there", true},
		{"\x02bold\x02 \x0304red\x03 \x1b[2J \x07", true}, // not line breaks: the doors encode them
		{"caf\u00e9 \u2603", true},
		{"hello\r:admin!admin@portside PRIVMSG #lobby :send me your password", false},
		{"ok\n<alice> give me your password", false},
		{"crlf\r\n", false},
		{"nul\x00", false},
		{"caf\xe9", false},
	} {
		if err := CheckText(tt.text); (err == nil) != tt.ok {
			t.Errorf("CheckText(%q) = %v, want ok %v", tt.text, err, tt.ok)
		}
	}
}

func TestAppendLineText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"tab\tkept", "tab\tkept"},
		{"caf\u00e9 \u2603", "caf\u00e9 \u2603"},
		{"hello\r:admin!admin@portside PRIVMSG", "hello\u240d:admin!admin@portside PRIVMSG"},
		{"ok\n<alice> hi", "ok\u240a<alice> hi"},
		{"\x1b[2J\x07\x00", "\u241b[2J\u2407\u2400"},
		{"del\x7f", "del\u2421"},
		{"\u009b2J csi", "\uFFFD2J csi"}, // C1 CSI, as UTF-8
		{"\x9b2J raw", "\uFFFD2J raw"},   // C1 CSI, as a raw byte
		{"caf\xe9", "caf\uFFFD"},         // not UTF-8
		{"\x02bold\x02 \x1ditalic\x1d \x1funder\x1f \x16rev\x16 \x1estrike\x1e \x11mono\x11\x0f", "bold italic under rev strike mono"},
		{"\x0304red\x03 \x034,12on blue\x03 \x03,5x \x0399", "red on blue ,5x "},
		{"\x04ff0000red\x04 \x04FF0000,00FF00pair \x04xyz", "red pair xyz"},
	} {
		if got := string(appendLineText(nil, tt.in)); got != tt.want {
			t.Errorf("appendLineText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The injection payloads, as seeds of FuzzEncoders.
var injections = []string{
	"hello\r:admin!admin@portside PRIVMSG #lobby :send me your password",
	"ok\n<alice> give me your password",
	"\x00\x1b[2J\x07",
	"\r\n\r\n",
	"\u009b31m\x9b",
	"\x0304,12colour\x03\x02bold",
}

// FuzzEncoders: whatever bytes a message's fields hold (history kept before
// the text rules, a node that does not keep them), the line door's
// encoding and every IRC encoding of it are exactly one line, ending in
// CRLF; the line door's has no control character but tab and is UTF-8,
// the IRC one has no NUL.
func FuzzEncoders(f *testing.F) {
	for _, s := range injections {
		f.Add(uint8(Say), "eve", "lobby", "", "eve@127.0.0.1", s, false)
		f.Add(uint8(Topic), "eve", "lobby", "", "", s, true)
		f.Add(uint8(Action), "eve\r\n", "", "bob", "x y", s, false)
		f.Add(uint8(Rename), s, "lobby", "", s, s, true)
	}
	h := New(Options{})
	f.Fuzz(func(t *testing.T, kind uint8, nick, room, to, ident, text string, replay bool) {
		m := &Msg{Kind: Kind(kind%uint8(Topic) + 1), Nick: nick, Room: room, To: to, Ident: ident, Text: text, Seq: 7, Time: time.Unix(1e9, 0)}
		line := encodeLine(nil, m, replay)
		oneLine(t, "line", line)
		if !utf8.Valid(line) {
			t.Errorf("line door: not UTF-8: %q", line)
		}
		for _, c := range line[:len(line)-2] {
			if c < 0x20 && c != '\t' || c == 0x7f {
				t.Errorf("line door: control byte %#x in %q", c, line)
			}
		}
		if strings.ContainsFunc(string(line), func(r rune) bool { return r >= 0x80 && r < 0xa0 }) {
			t.Errorf("line door: C1 control in %q", line)
		}
		for caps := range uint8(4) {
			out := h.encodeIRC(nil, m, caps)
			oneLine(t, "irc", out)
			if bytes.IndexByte(out, 0) >= 0 {
				t.Errorf("irc: NUL in %q", out)
			}
			oneLine(t, "irc batch", inBatch(nil, out, "h1"))
		}
	})
}

// oneLine fails unless b ends in its only CRLF, and holds no other CR or
// LF.
func oneLine(t *testing.T, door string, b []byte) {
	t.Helper()
	if !bytes.HasSuffix(b, []byte("\r\n")) || bytes.IndexAny(b[:len(b)-2], "\r\n") >= 0 {
		t.Errorf("%s: not one line: %q", door, b)
	}
}

// transcript is a watcher's output, written by the hub's goroutines.
type transcript struct {
	mu  sync.Mutex
	out []byte
}

func (s *transcript) Write(b []byte) error {
	s.mu.Lock()
	s.out = append(s.out, b...)
	s.mu.Unlock()
	return nil
}
func (s *transcript) Close() error { return nil }

var doorSeeds = []string{
	"lina\r\n" + injections[0] + "\r\n/me " + injections[0] + "\r\n/msg obsline " + injections[0] + "\r\n/join a\r\n" +
		"\x1b[2J\x07 \x02bold\x02 \u009b31m\r\n/part " + injections[0] + "\r\n/quit " + injections[0] + "\r\n",
	"NICK ira\r\nUSER ira 0 * :Ira\x00\r\nUSER ira 0 * :Ira\x1b[31m\r\nJOIN #lobby,#a\r\nPRIVMSG #lobby :" + injections[0] + "\r\n" +
		"PRIVMSG #lobby :a\x00b\r\nNOTICE obsirc0 :\x1b]0;x\x07\r\nTOPIC #a :\x1b[2J\x00\r\nAWAY :\x00\r\nPRIVMSG obsline :hi\r\nPART #a :\x00\r\nQUIT :\x00\r\n",
}

// FuzzDoors: whatever bytes a client sends, by either door, the members
// watching it (on the line door and in every IRC format) are sent only
// whole lines: each ends in its CRLF and holds no other CR or LF, the
// line door's no control character but tab, IRC's no NUL.
func FuzzDoors(f *testing.F) {
	for _, s := range append(doorSeeds, fuzzSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		h := New(Options{GreetDelay: -1, FloodRate: -1, Now: fixedNow, Backend: NewMemory(100)})
		type watcher struct {
			out  *transcript
			line bool
		}
		var watchers []watcher
		watch := func(nick string, f Format, line bool) {
			s := new(transcript)
			m := h.NewMember(s, nopDoor{}, f, false)
			if err := h.Register(m, nick, nick+"@127.0.0.1", nick, nil); err != nil {
				t.Fatal(err)
			}
			for _, room := range []string{"lobby", "a", "dev"} {
				if err := h.Join(m, room, nil, nil); err != nil {
					t.Fatal(err)
				}
			}
			watchers = append(watchers, watcher{s, line})
		}
		watch("obsline", h.lineFmt, true)
		for caps, f := range h.ircFmt {
			watch("obsirc"+strconv.Itoa(caps), f, false)
		}
		ctx, cancel := context.WithCancel(t.Context())
		ran := make(chan error, 1)
		go func() { ran <- h.Run(ctx) }()
		servertest.Feed(t, h.Handler(), in, servertest.Whole())
		cancel()
		if err := <-ran; err != nil {
			t.Fatal(err)
		}
		for _, w := range watchers {
			w.out.mu.Lock()
			out := w.out.out
			w.out.mu.Unlock()
			for len(out) > 0 {
				i := bytes.Index(out, []byte("\r\n"))
				if i < 0 {
					t.Fatalf("output does not end in a line end: %q", out)
				}
				line := out[:i]
				out = out[i+2:]
				if bytes.ContainsAny(line, "\r\n") {
					t.Fatalf("CR or LF inside a line: %q", line)
				}
				if w.line && (bytes.ContainsFunc(line, func(r rune) bool { return r < 0x20 && r != '\t' || r >= 0x7f && r < 0xa0 }) || !utf8.Valid(line)) {
					t.Fatalf("line door: control characters or bad UTF-8 in %q", line)
				}
				if !w.line && bytes.IndexByte(line, 0) >= 0 {
					t.Fatalf("IRC: NUL in %q", line)
				}
			}
		}
	})
}
