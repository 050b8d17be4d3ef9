package chat

import (
	"errors"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/portside/portside/proto/irc"
)

// Text rules. Every door frames its input in lines, and every door but the
// browser's frames its output the same way: a CR or LF inside text would
// let one client write lines of its own into other clients' streams (a
// forged "<alice>" on the line door, a forged ":admin!admin@portside
// PRIVMSG" on IRC), and a NUL ends an IRC line for many clients. So the hub
// has one rule for all text, wherever it comes from (a door, or another
// node through the backend): it is UTF-8 and holds no CR, LF or NUL. Text
// that breaks it is refused, and the door tells the sender why; nothing
// is cut or changed silently.
//
// The doors do not trust the hub in turn: each encodes any bytes safely
// for its medium on the way out (appendLineText; irc.AppendText and
// appendIRCWord; the browser door's JSON), so that history written before
// these rules, or put in the store some other way, replays safely too.

// ErrBadText refuses text that breaks the hub's rule: it holds a line
// break (CR or LF) or a NUL, or is not UTF-8.
var ErrBadText = errors.New("chat: text may not hold line breaks (CR, LF) or NUL, and must be UTF-8")

// CheckText applies the hub's rule for text: nil, or ErrBadText.
func CheckText(s string) error {
	if strings.ContainsAny(s, "\r\n\x00") || !utf8.ValidString(s) {
		return ErrBadText
	}
	return nil
}

// checkWord is CheckText for what is one word on the wire (an IRC user
// name, a host): no spaces either.
func checkWord(s string) error {
	if strings.IndexByte(s, ' ') >= 0 {
		return ErrBadText
	}
	return CheckText(s)
}

// validRemote reports whether a message another hub sent through the
// backend keeps the same rules as this hub's own: nicks and rooms valid,
// text clean. The backend's messages from this hub were checked when said.
func validRemote(m *Msg) bool {
	if m.Kind < Say || m.Kind > Wallops {
		return false
	}
	if m.Kind == Mode && m.Nick == "" && m.Text == "" {
		return ValidRoom(m.Room) // a room's modes, not shown: see importModes
	}
	if m.Kind == Kick && !irc.ValidNick(m.Target, nickLen) {
		return false
	}
	if !irc.ValidNick(m.Nick, nickLen) || checkWord(m.Ident) != nil || CheckText(m.Text) != nil {
		return false
	}
	if m.Kind == Rename && !irc.ValidNick(m.Text, nickLen) {
		return false
	}
	if m.Room != "" && !ValidRoom(m.Room) || m.To != "" && !irc.ValidNick(m.To, nickLen) {
		return false
	}
	for _, r := range m.Rooms {
		if !ValidRoom(r) {
			return false
		}
	}
	return true
}

// dropInvalid removes from batch the messages of other hubs that break the
// text rules, logging each: no client of this hub can be told, and the
// hub that sent them should have refused them.
func dropInvalid(log *slog.Logger, batch []*Msg) []*Msg {
	bad := false
	for _, m := range batch {
		if m.from == nil && m.caught == nil && !validRemote(m) {
			bad = true
			break
		}
	}
	if !bad {
		return batch
	}
	out := make([]*Msg, 0, len(batch))
	for _, m := range batch {
		if m.from == nil && m.caught == nil && !validRemote(m) {
			log.Warn("chat: dropped a message from another node that breaks the text rules",
				"kind", m.Kind, "room", m.Room, "nick", m.Nick, "seq", m.Seq)
			continue
		}
		out = append(out, m)
	}
	return out
}

// The replacement for what a door cannot show: U+FFFD.
const replacement = "\uFFFD"

// appendIRCWord appends s where IRC expects one word (a nick, a user, a
// channel): as irc.AppendText does text, with spaces replaced too.
func appendIRCWord(dst []byte, s string) []byte {
	if strings.IndexAny(s, "\r\n\x00 ") < 0 {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\r', '\n', 0, ' ':
			dst = append(dst, replacement...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendLineText appends s for a terminal, as the line door shows text to
// a person on nc or telnet: valid UTF-8 with no control character but tab,
// so that text can neither start a line of its own nor send the terminal
// escape sequences. IRC's formatting codes (bold, colours, ...) are
// dropped, as an IRC client would render them; any other C0 control and
// DEL are shown as their Unicode control pictures (ESC as ␛, BEL as ␇,
// NUL as ␀, CR as ␍, LF as ␊, DEL as ␡); C1 controls (U+0080 to U+009F,
// which some terminals obey as escapes) and bytes that are not UTF-8
// become U+FFFD.
func appendLineText(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= 0x20 && c < 0x7f || c == '\t':
			dst = append(dst, c)
			i++
		case c < 0x80:
			if next, ok := skipFormat(s, i); ok {
				i = next
				continue
			}
			if c == 0x7f {
				dst = append(dst, "\u2421"...)
			} else {
				dst = utf8.AppendRune(dst, 0x2400+rune(c))
			}
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 || r >= 0x80 && r < 0xa0 {
				dst = append(dst, replacement...)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
		}
	}
	return dst
}

// skipFormat reports whether the control byte s[i] starts one of IRC's
// formatting codes, and where the code ends.
func skipFormat(s string, i int) (next int, ok bool) {
	switch s[i] {
	case 0x02, 0x0f, 0x11, 0x16, 0x1d, 0x1e, 0x1f: // bold, reset, monospace, reverse, italic, strike, underline
		return i + 1, true
	case 0x03: // colour: up to two digits, then optionally a comma and up to two more
		j := digits(s, i+1, 2, isDigit)
		if j > i+1 && j+1 < len(s) && s[j] == ',' && isDigit(s[j+1]) {
			j = digits(s, j+1, 2, isDigit)
		}
		return j, true
	case 0x04: // hex colour: six hex digits, then optionally a comma and six more
		j := i + 1
		if digits(s, j, 6, isHex) == j+6 {
			j += 6
			if j < len(s) && s[j] == ',' && digits(s, j+1, 6, isHex) == j+7 {
				j += 7
			}
		}
		return j, true
	}
	return i, false
}

// digits returns the index after up to max bytes of s from i that are ok.
func digits(s string, i, max int, ok func(byte) bool) int {
	for n := 0; n < max && i < len(s) && ok(s[i]); n++ {
		i++
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
