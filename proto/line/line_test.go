package line

import (
	"errors"
	"testing"
)

var cases = []struct {
	name  string
	in    string
	max   int
	lines []string
	rest  string
	err   error
}{
	{"empty", "", 0, nil, "", nil},
	{"partial", "abc", 0, nil, "abc", nil},
	{"one", "abc\n", 0, []string{"abc"}, "", nil},
	{"crlf", "abc\r\n", 0, []string{"abc"}, "", nil},
	{"lone cr kept", "a\rb\n", 0, []string{"a\rb"}, "", nil},
	{"several", "a\nb\r\n\nc", 0, []string{"a", "b", ""}, "c", nil},
	{"at limit", "abcd\n", 4, []string{"abcd"}, "", nil},
	{"crlf at limit", "abcd\r\n", 4, []string{"abcd"}, "", nil},
	{"over limit", "abcde\n", 4, nil, "abcde\n", ErrTooLong},
	{"partial over limit", "abcde", 4, nil, "abcde", ErrTooLong},
	{"ok then over", "ab\nabcdef", 4, []string{"ab"}, "abcdef", ErrTooLong},
	{"binary", "\x00\xff\n", 0, []string{"\x00\xff"}, "", nil},
}

// scan runs a scanner the way a handler does: all lines of the buffer,
// then what was consumed.
func scan(in []byte, max int) (lines []string, used int, err error) {
	s := NewScanner(in, max)
	for s.Scan() {
		lines = append(lines, string(s.Line()))
	}
	return lines, s.Used, s.Err()
}

func TestScanner(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines, used, err := scan([]byte(tc.in), tc.max)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !equal(lines, tc.lines) {
				t.Errorf("lines = %q, want %q", lines, tc.lines)
			}
			if got := tc.in[used:]; got != tc.rest {
				t.Errorf("rest = %q, want %q", got, tc.rest)
			}
		})
	}
}

// feed delivers in as an engine might, in pieces, keeping what was not
// consumed, and collects the lines.
func feed(in []byte, max int, cut func(rest int) int) (lines []string, err error) {
	var buf []byte
	for len(in) > 0 {
		k := cut(len(in))
		buf = append(buf, in[:k]...)
		in = in[k:]
		got, used, err := scan(buf, max)
		lines = append(lines, got...)
		if err != nil {
			return lines, err
		}
		buf = buf[used:]
	}
	return lines, nil
}

func TestSplitInput(t *testing.T) {
	for _, tc := range cases {
		whole, _, werr := scan([]byte(tc.in), tc.max)
		t.Run(tc.name+"/byte-at-a-time", func(t *testing.T) {
			got, err := feed([]byte(tc.in), tc.max, func(int) int { return 1 })
			if !equal(got, whole) || !errors.Is(err, werr) {
				t.Errorf("got %q, %v; want %q, %v", got, err, whole, werr)
			}
		})
		for at := 1; at < len(tc.in); at++ {
			first := true
			got, err := feed([]byte(tc.in), tc.max, func(rest int) int {
				if first {
					first = false
					return at
				}
				return rest
			})
			// A split can only reveal an overlong partial line earlier,
			// never change the lines before it.
			if !equal(got, whole) || !errors.Is(err, werr) {
				t.Errorf("%s split at %d: got %q, %v; want %q, %v", tc.name, at, got, err, whole, werr)
			}
		}
	}
}

func FuzzScanner(f *testing.F) {
	for _, tc := range cases {
		f.Add([]byte(tc.in), uint8(tc.max), uint8(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, limit, step uint8) {
		whole, used, werr := scan(in, int(limit))
		if used > len(in) {
			t.Fatalf("used %d of %d bytes", used, len(in))
		}
		for _, l := range whole {
			if limit > 0 && len(l) > int(limit) {
				t.Fatalf("line of %d bytes passed limit %d", len(l), limit)
			}
		}
		n := max(int(step), 1)
		got, err := feed(in, int(limit), func(rest int) int { return min(n, rest) })
		if werr == nil && (err != nil || !equal(got, whole)) {
			t.Fatalf("split every %d: got %q, %v; want %q", n, got, err, whole)
		}
	})
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func BenchmarkScanner(b *testing.B) {
	in := []byte("PRIVMSG #lobby :hello there, how are you today?\r\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		s := NewScanner(in, 512)
		for s.Scan() {
		}
	}
}
