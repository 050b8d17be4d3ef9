package chat

import (
	"strings"

	"github.com/portside/portside/proto/irc"
)

// maxMaskLen bounds a ban mask: nick (30), user, host and wildcards fit.
const maxMaskLen = 120

// matchMask reports whether s matches the wildcard pattern mask, where '*'
// is any run of characters (none included) and '?' any one character,
// ignoring ASCII case (CASEMAPPING=ascii). It runs in O(len(mask) *
// len(s)) at worst, whatever the mask: no backtracking blow-up.
func matchMask(mask, s string) bool {
	mask, s = irc.Fold(mask), irc.Fold(s)
	// The classic greedy matcher with one backtrack point: the last '*'.
	mi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case mi < len(mask) && mask[mi] == '*':
			star, mark = mi, si
			mi++
		case mi < len(mask) && (mask[mi] == '?' || mask[mi] == s[si]):
			mi++
			si++
		case star >= 0:
			mi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for mi < len(mask) && mask[mi] == '*' {
		mi++
	}
	return mi == len(mask)
}

// normalMask turns what an operator typed into a full ban mask,
// nick!user@host: a bare nick (or pattern) is nick!*@*, nick!user is
// nick!user@*, user@host is *!user@host. It reports false for a mask that
// cannot be one: empty, too long, or holding spaces, commas or controls.
func normalMask(m string) (string, bool) {
	if m == "" || len(m) > maxMaskLen || strings.ContainsAny(m, " ,") || CheckText(m) != nil {
		return "", false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < ' ' || m[i] == 0x7f {
			return "", false
		}
	}
	nick, rest, hasBang := strings.Cut(m, "!")
	if !hasBang {
		if u, h, hasAt := strings.Cut(m, "@"); hasAt {
			nick, rest = "*", u+"@"+h
		} else {
			rest = "*@*"
		}
	} else if !strings.Contains(rest, "@") {
		rest += "@*"
	}
	user, host, _ := strings.Cut(rest, "@")
	if nick == "" || user == "" || host == "" || strings.ContainsAny(user+host, "!@") {
		return "", false
	}
	out := irc.Fold(nick + "!" + user + "@" + host)
	if len(out) > maxMaskLen {
		return "", false
	}
	return out, true
}
