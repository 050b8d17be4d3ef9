package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/portside/portside/chat"
)

func masked(op ws.OpCode, fin bool, payload string) []byte {
	var b bytes.Buffer
	h := ws.Header{Fin: fin, OpCode: op, Length: int64(len(payload)), Masked: true, Mask: [4]byte{1, 2, 3, 4}}
	p := []byte(payload)
	ws.Cipher(p, h.Mask, 0)
	ws.WriteHeader(&b, h)
	b.Write(p)
	return b.Bytes()
}

// parseAll feeds in to a parser in pieces split at the given offsets, as an
// engine would hand it over, keeping what is unconsumed, and describes
// every frame and error it produced.
func parseAll(in []byte, splits ...int) string {
	f := frames{max: 64}
	var out bytes.Buffer
	var buf []byte
	prev := 0
	for _, end := range append(splits, len(in)) {
		if end < prev || end > len(in) {
			continue
		}
		buf = append(buf, in[prev:end]...)
		prev = end
		for {
			n, fr, err := f.next(buf)
			if err != nil {
				fmt.Fprintf(&out, "error %v\n", err)
				return out.String()
			}
			if n == 0 {
				break
			}
			buf = buf[n:]
			if fr != nil {
				fmt.Fprintf(&out, "%v %q\n", fr.op, fr.payload)
			}
		}
	}
	return out.String()
}

var frameSeeds = [][]byte{
	masked(ws.OpText, true, `{"type":"hello"}`),
	append(masked(ws.OpText, false, "frag"), masked(ws.OpContinuation, true, "ment")...),
	append(masked(ws.OpText, false, "a"), append(masked(ws.OpPing, true, "p"), masked(ws.OpContinuation, true, "b")...)...),
	masked(ws.OpText, true, "\xff"),
	masked(ws.OpText, true, string(make([]byte, 200))),
	masked(ws.OpClose, true, "\x03\xe8"),
	{0x81, 0x02, 'h', 'i'}, // unmasked
}

func TestFramesSplit(t *testing.T) {
	for i, in := range frameSeeds {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			whole := parseAll(bytes.Clone(in))
			if whole == "" {
				t.Fatalf("no frames from %q", in)
			}
			for s := range len(in) {
				if got := parseAll(bytes.Clone(in), s); got != whole {
					t.Errorf("split at %d: got\n%s\nwant\n%s", s, got, whole)
				}
			}
		})
	}
}

// FuzzFrames: input split in two parses the same as whole.
func FuzzFrames(f *testing.F) {
	for _, s := range frameSeeds {
		f.Add(s, len(s)/2)
	}
	f.Fuzz(func(t *testing.T, in []byte, split int) {
		if split < 0 || split > len(in) {
			return
		}
		whole := parseAll(bytes.Clone(in))
		if got := parseAll(bytes.Clone(in), split); got != whole {
			t.Errorf("split at %d: got\n%s\nwant\n%s", split, got, whole)
		}
	})
}

// FuzzEncodeFrame: whatever bytes a message's fields hold (history kept
// before the hub's text rules), the browser is sent one text frame holding
// one JSON object, whose strings are UTF-8 without CR, LF or NUL.
func FuzzEncodeFrame(f *testing.F) {
	f.Add("eve", "lobby", "", "hello\r:admin!admin@portside PRIVMSG #lobby :send me your password")
	f.Add("eve\n", "lob\x00by", "bob\r", "ok\n<alice> give me your password\xff")
	f.Fuzz(func(t *testing.T, nick, room, to, text string) {
		m := &chat.Msg{Kind: chat.Say, Nick: nick, Room: room, To: to, Text: text, Seq: 1}
		b := encodeFrame(nil, m, true)
		r := bytes.NewReader(b)
		fr, err := ws.ReadFrame(r)
		if err != nil || !fr.Header.Fin || fr.Header.OpCode != ws.OpText || r.Len() != 0 {
			t.Fatalf("not one text frame (%v): %q", err, b)
		}
		var w wireMsg
		if err := json.Unmarshal(fr.Payload, &w); err != nil {
			t.Fatalf("not JSON: %v: %q", err, fr.Payload)
		}
		for _, s := range []string{w.Nick, w.Room, w.To, w.Text} {
			if strings.ContainsAny(s, "\r\n\x00") || !utf8.ValidString(s) {
				t.Errorf("field %q of %q", s, fr.Payload)
			}
		}
	})
}
