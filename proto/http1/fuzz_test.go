package http1

import (
	"bytes"
	"testing"
)

// FuzzParser checks that no input panics the parser and that the input split
// anywhere, or fed a byte at a time, parses exactly as it does whole.
func FuzzParser(f *testing.F) {
	for _, row := range parseRows {
		f.Add([]byte(row.in), uint16(len(row.in)/2),
			uint16(row.lim.MaxRequestLine), uint16(row.lim.MaxHeaderBytes), uint8(row.lim.MaxHeaders), int32(row.lim.MaxBody))
	}
	f.Fuzz(func(t *testing.T, in []byte, split uint16, maxLine, maxHdr uint16, maxHeaders uint8, maxBody int32) {
		lim := Limits{
			MaxRequestLine: int(maxLine),
			MaxHeaderBytes: int(maxHdr),
			MaxHeaders:     int(maxHeaders),
			MaxBody:        int64(maxBody),
		}
		whole := feed(t, lim, [][]byte{in}).String()
		s := min(int(split), len(in))
		if got := feed(t, lim, [][]byte{in[:s], in[s:]}).String(); got != whole {
			t.Fatalf("split at %d: got\n%s\nwant\n%s", s, got, whole)
		}
		bytewise := make([][]byte, len(in))
		for i := range in {
			bytewise[i] = in[i : i+1]
		}
		if got := feed(t, lim, bytewise).String(); got != whole {
			t.Fatalf("a byte at a time: got\n%s\nwant\n%s", got, whole)
		}
		// A request the parser accepted contains no byte that could end
		// a line or a field anywhere it was not meant to.
		p := &Parser{Limits: lim}
		if _, ev, err := p.Next(in); err == nil && ev == Head {
			r := p.Request()
			for name, value := range r.Header.All() {
				if bytes.ContainsAny(name, "\r\n\x00 \t:") || bytes.ContainsAny(value, "\r\n\x00") {
					t.Fatalf("accepted field %q: %q", name, value)
				}
			}
			if bytes.ContainsAny(r.Target, "\r\n\x00 \t") {
				t.Fatalf("accepted target %q", r.Target)
			}
		}
	})
}
