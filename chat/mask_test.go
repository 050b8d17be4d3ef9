package chat

import (
	"strings"
	"testing"
)

func TestMatchMask(t *testing.T) {
	for _, tc := range []struct {
		mask, s string
		want    bool
	}{
		{"bob!*@*", "bob!bob@127.0.0.1", true},
		{"bob!*@*", "BOB!x@host", true},
		{"BOB!*@*", "bob!x@host", true},
		{"bob!*@*", "bobby!x@host", false},
		{"bob*!*@*", "bobby!x@host", true},
		{"b?b!*@*", "bib!x@host", true},
		{"b?b!*@*", "bb!x@host", false},
		{"*!*@10.0.0.*", "ana!a@10.0.0.7", true},
		{"*!*@10.0.0.*", "ana!a@10.0.1.7", false},
		{"*", "", true},
		{"", "", true},
		{"", "a", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyyca", false},
		{"*a", "aaaa", true},
		{"*?", "", false},
		{"**!*@*", "x!y@z", true},
		{"*!*@*", "x!y@z", true},
		{"a\\*!*@*", "a*!x@y", false}, // no escapes: \ is a character
	} {
		if got := matchMask(tc.mask, tc.s); got != tc.want {
			t.Errorf("matchMask(%q, %q) = %v, want %v", tc.mask, tc.s, got, tc.want)
		}
	}
}

func TestNormalMask(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"bob", "bob!*@*", true},
		{"Bob", "bob!*@*", true},
		{"bob!u", "bob!u@*", true},
		{"u@host", "*!u@host", true},
		{"*!*@Host.Example", "*!*@host.example", true},
		{"", "", false},
		{"a b", "", false},
		{"a,b", "", false},
		{"a!b!c@d", "", false},
		{"a!@d", "", false},
		{"a\x01", "", false},
		{strings.Repeat("a", 200), "", false},
	} {
		got, ok := normalMask(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("normalMask(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzMatchMask: matching never panics, a string matches itself and "*",
// and agrees with a plain recursive matcher.
func FuzzMatchMask(f *testing.F) {
	f.Add("bob!*@*", "bob!u@h")
	f.Add("*a*b?c", "xaybzc")
	f.Add("**??**", "ab")
	f.Fuzz(func(t *testing.T, mask, s string) {
		if len(mask) > 64 || len(s) > 64 {
			return
		}
		got := matchMask(mask, s)
		if want := slowMatch(lower(mask), lower(s)); got != want {
			t.Fatalf("matchMask(%q, %q) = %v, the slow matcher says %v", mask, s, got, want)
		}
		if !strings.ContainsAny(s, "*?") && !matchMask(s, s) {
			t.Fatalf("%q does not match itself", s)
		}
		if !matchMask("*", s) {
			t.Fatalf("* does not match %q", s)
		}
	})
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func slowMatch(m, s string) bool {
	if m == "" {
		return s == ""
	}
	switch m[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if slowMatch(m[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && slowMatch(m[1:], s[1:])
	}
	return s != "" && s[0] == m[0] && slowMatch(m[1:], s[1:])
}
