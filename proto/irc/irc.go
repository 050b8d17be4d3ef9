// Package irc parses and writes the client protocol of IRC (RFC 1459, RFC
// 2812 and the IRCv3 message-tags extension) as pure functions over bytes.
//
// It never does I/O: Next frames and parses the first message of a buffer a
// connection has read, and Append writes a message onto a byte slice, so a
// server can encode a message once and send the same bytes to many clients.
package irc

import (
	"bytes"
	"errors"
	"strings"
)

// MaxLine is the longest message body RFC 1459 allows, terminator included;
// MaxTags bounds the tag section the message-tags extension adds in front.
const (
	MaxLine = 512
	MaxTags = 8191
)

// Errors from Parse and Next.
var (
	ErrTooLong      = errors.New("irc: message too long")
	ErrEmpty        = errors.New("irc: empty message")
	ErrNoCommand    = errors.New("irc: message has no command")
	ErrBadCommand   = errors.New("irc: malformed command")
	ErrTooManyParam = errors.New("irc: more than 15 parameters")
)

// Tag is one message tag: @key=value. Value is unescaped.
type Tag struct {
	Key, Value string
}

// Message is one IRC message. Params holds every parameter, the trailing
// one last and without its colon.
type Message struct {
	Tags    []Tag
	Source  string // the prefix without its colon: "nick!user@host" or a server name
	Command string // upper-cased: "PRIVMSG", "001"
	Params  []string
}

// Param returns the i-th parameter, or "" if there are fewer.
func (m *Message) Param(i int) string {
	if i < len(m.Params) {
		return m.Params[i]
	}
	return ""
}

// Tag returns the value of the tag key and whether it is present.
func (m *Message) Tag(key string) (string, bool) {
	for _, t := range m.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// Next frames the first message of in: it returns the message, the bytes it
// spans including its terminator (LF or CRLF; a lone CR also ends a line, as
// some old clients send it), and an error for a malformed one. n == 0 with a
// nil error means in holds no complete line yet. Empty lines are skipped
// (counted in n, with a zero Message and ErrEmpty). A line longer than
// MaxTags+MaxLine is ErrTooLong, before or after its end arrives: the
// connection should be closed, as its peer is not speaking IRC.
func Next(in []byte) (m Message, n int, err error) {
	const limit = MaxTags + MaxLine
	i := bytes.IndexAny(in, "\r\n")
	if i < 0 {
		if len(in) > limit {
			return Message{}, 0, ErrTooLong
		}
		return Message{}, 0, nil
	}
	n = i + 1
	if in[i] == '\r' {
		if i+1 == len(in) {
			// The LF of a CRLF may be still to come: wait for it, so
			// that a split CRLF frames the same as a whole one.
			if len(in) > limit {
				return Message{}, 0, ErrTooLong
			}
			return Message{}, 0, nil
		}
		if in[i+1] == '\n' {
			n++
		}
	}
	if i > limit {
		return Message{}, n, ErrTooLong
	}
	m, err = Parse(in[:i])
	return m, n, err
}

// Parse parses one message without its line terminator.
func Parse(line []byte) (Message, error) {
	var m Message
	s := string(line)
	s = strings.TrimLeft(s, " ")
	if s == "" {
		return m, ErrEmpty
	}
	if s[0] == '@' {
		var tags string
		tags, s = cut(s[1:])
		if len(tags) > MaxTags {
			return Message{}, ErrTooLong
		}
		m.Tags = parseTags(tags)
	}
	if len(s) > MaxLine {
		return Message{}, ErrTooLong
	}
	if s != "" && s[0] == ':' {
		m.Source, s = cut(s[1:])
	}
	var cmd string
	cmd, s = cut(s)
	if cmd == "" {
		return Message{}, ErrNoCommand
	}
	if !validCommand(cmd) {
		return Message{}, ErrBadCommand
	}
	m.Command = strings.ToUpper(cmd)
	for s != "" {
		if s[0] == ':' {
			m.Params = append(m.Params, s[1:])
			break
		}
		if len(m.Params) == 14 {
			// RFC 2812: the 15th parameter is the rest of the line.
			m.Params = append(m.Params, s)
			break
		}
		var p string
		p, s = cut(s)
		m.Params = append(m.Params, p)
	}
	return m, nil
}

// cut splits s at its first space and drops the spaces that follow.
func cut(s string) (head, rest string) {
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i+1:], " ")
}

func validCommand(c string) bool {
	digits := true
	for i := 0; i < len(c); i++ {
		b := c[i]
		switch {
		case b >= '0' && b <= '9':
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z':
			digits = false
		default:
			return false
		}
	}
	return !digits || len(c) == 3
}

func parseTags(s string) []Tag {
	var tags []Tag
	for s != "" {
		var kv string
		if i := strings.IndexByte(s, ';'); i >= 0 {
			kv, s = s[:i], s[i+1:]
		} else {
			kv, s = s, ""
		}
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		tags = append(tags, Tag{Key: k, Value: unescapeTag(v)})
	}
	return tags
}

func unescapeTag(v string) string {
	if strings.IndexByte(v, '\\') < 0 {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(v) {
			break // a trailing backslash is dropped
		}
		switch v[i] {
		case ':':
			b.WriteByte(';')
		case 's':
			b.WriteByte(' ')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

// AppendTagValue appends v escaped as a tag value.
func AppendTagValue(dst []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ';':
			dst = append(dst, '\\', ':')
		case ' ':
			dst = append(dst, '\\', 's')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\n':
			dst = append(dst, '\\', 'n')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// Append appends m to dst as a wire message with its CRLF. The last
// parameter is written as a trailing one (with a colon) when it must be:
// when it is empty, holds a space or starts with a colon. Whatever m holds,
// the result is one line: a CR, LF or NUL in the source or a parameter,
// which would end the line early, is written as U+FFFD. Keeping spaces out
// of the source and of parameters but the last is the caller's part.
func (m *Message) Append(dst []byte) []byte {
	if len(m.Tags) > 0 {
		dst = append(dst, '@')
		for i, t := range m.Tags {
			if i > 0 {
				dst = append(dst, ';')
			}
			dst = append(dst, t.Key...)
			if t.Value != "" {
				dst = append(dst, '=')
				dst = AppendTagValue(dst, t.Value)
			}
		}
		dst = append(dst, ' ')
	}
	if m.Source != "" {
		dst = append(dst, ':')
		dst = AppendText(dst, m.Source)
		dst = append(dst, ' ')
	}
	dst = AppendText(dst, m.Command)
	for i, p := range m.Params {
		dst = append(dst, ' ')
		if i == len(m.Params)-1 && (p == "" || p[0] == ':' || strings.IndexByte(p, ' ') >= 0) {
			dst = append(dst, ':')
		}
		dst = AppendText(dst, p)
	}
	return append(dst, '\r', '\n')
}

// AppendText appends s for a message's line: CR, LF and NUL, which no
// part of a message may hold, become U+FFFD; every other byte, IRC's
// formatting codes included, is kept.
func AppendText(dst []byte, s string) []byte {
	if strings.IndexAny(s, "\r\n\x00") < 0 {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\r', '\n', 0:
			dst = append(dst, "\uFFFD"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// String is the wire form of m without its CRLF.
func (m *Message) String() string {
	b := m.Append(nil)
	return string(b[:len(b)-2])
}
