package web

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/gobwas/ws"
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
