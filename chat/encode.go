package chat

import (
	"strconv"
	"time"

	"github.com/portside/portside/proto/irc"
)

// Encoder appends m to dst in one door's wire format. replay says m is
// history, replayed on join or asked for, rather than news. An encoding must
// not depend on who receives it: that is what lets one serve a whole room.
type Encoder func(dst []byte, m *Msg, replay bool) []byte

// Format names an Encoder registered with AddFormat. Each member has one,
// and the hub encodes a message once per format in use.
type Format uint8

const maxFormats = 16

// AddFormat registers a wire format for a door. It must be called before
// Run; at most 16 formats exist.
func (h *Hub) AddFormat(e Encoder) Format {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.formats) == maxFormats {
		panic("chat: too many formats")
	}
	h.formats = append(h.formats, e)
	return Format(len(h.formats) - 1)
}

// addDoors registers the wire formats of the line and IRC doors.
func (h *Hub) addDoors() {
	h.lineFmt = h.AddFormat(encodeLine)
	for caps := range h.ircFmt {
		h.ircFmt[caps] = h.AddFormat(func(dst []byte, m *Msg, replay bool) []byte {
			return h.encodeIRC(dst, m, uint8(caps))
		})
	}
}

// lineTime is how the line door dates history.
const lineTime = "Jan 02 15:04:05"

// encodeLine writes m as the line door shows it to a person. Every field
// goes through appendLineText: whatever the message holds (history kept
// before the text rules, say), it is one line, with nothing a terminal
// obeys.
func encodeLine(dst []byte, m *Msg, replay bool) []byte {
	if replay {
		dst = append(dst, '[')
		dst = m.Time.UTC().AppendFormat(dst, lineTime)
		dst = append(dst, "] "...)
	}
	private := m.To != ""
	switch m.Kind {
	case Say:
		if private {
			dst = append(dst, '*')
			dst = appendLineText(dst, m.Nick)
			dst = append(dst, "* "...)
		} else {
			dst = append(dst, '<')
			dst = appendLineText(dst, m.Nick)
			dst = append(dst, "> "...)
		}
		dst = appendLineText(dst, m.Text)
	case Action:
		dst = append(dst, "* "...)
		dst = appendLineText(dst, m.Nick)
		dst = append(dst, ' ')
		dst = appendLineText(dst, m.Text)
		if private {
			dst = append(dst, " (privately)"...)
		}
	case Notice:
		dst = append(dst, '-')
		dst = appendLineText(dst, m.Nick)
		dst = append(dst, "- "...)
		dst = appendLineText(dst, m.Text)
	case Join:
		dst = lineEvent(dst, m.Nick, " joined ", m.Room)
	case Part:
		dst = lineEvent(dst, m.Nick, " left ", m.Room)
		dst = appendReason(dst, m.Text)
	case Quit:
		dst = lineEvent(dst, m.Nick, " quit", "")
		dst = appendReason(dst, m.Text)
	case Rename:
		dst = lineEvent(dst, m.Nick, " is now known as ", m.Text)
	case Topic:
		dst = lineEvent(dst, m.Nick, " set the topic of ", m.Room)
		dst = append(dst, ": "...)
		dst = appendLineText(dst, m.Text)
	case Kick:
		dst = lineEvent(dst, m.Nick, " kicked ", m.Target)
		dst = appendReason(dst, m.Text)
	case Mode:
		dst = lineEvent(dst, m.Nick, " sets mode ", m.Text)
	case Invite:
		dst = lineEvent(dst, m.Nick, " invites you to ", m.Room)
		dst = append(dst, ": /join "...)
		dst = appendLineText(dst, m.Room)
	}
	return append(dst, '\r', '\n')
}

// lineEvent writes "* NICK" what "ARG".
func lineEvent(dst []byte, nick, what, arg string) []byte {
	dst = append(dst, "* "...)
	dst = appendLineText(dst, nick)
	dst = append(dst, what...)
	return appendLineText(dst, arg)
}

func appendReason(dst []byte, r string) []byte {
	if r == "" {
		return dst
	}
	dst = append(dst, " ("...)
	dst = appendLineText(dst, r)
	return append(dst, ')')
}

// IRC capabilities that change how messages are encoded.
const (
	capServerTime  = 1 << iota // server-time: @time= on every message
	capMessageTags             // message-tags: @msgid= on kept messages
	capBatch                   // batch: history comes in a BATCH
	capChathistory             // draft/chathistory: the CHATHISTORY command

	encodingCaps = capServerTime | capMessageTags // the ones that pick a Format
)

// ircTime is the server-time format: RFC 3339 in UTC, with milliseconds.
const ircTime = "2006-01-02T15:04:05.000Z"

// encodeIRC writes m as an IRC message. Like encodeLine it copes with any
// bytes: whatever m holds, the message is one line, with no NUL.
func (h *Hub) encodeIRC(dst []byte, m *Msg, caps uint8) []byte {
	sep := byte('@')
	if caps&capServerTime != 0 {
		dst = append(dst, "@time="...)
		dst = m.Time.UTC().AppendFormat(dst, ircTime)
		sep = ';'
	}
	if caps&capMessageTags != 0 && m.Seq > 0 {
		dst = append(dst, sep)
		dst = append(dst, "msgid="...)
		dst = appendMsgID(dst, m)
		sep = ';'
	}
	if sep == ';' {
		dst = append(dst, ' ')
	}
	dst = append(dst, ':')
	dst = appendIRCWord(dst, m.Nick)
	if m.Ident != "" {
		dst = append(dst, '!')
		dst = appendIRCWord(dst, m.Ident)
	}
	target := func(dst []byte) []byte {
		if m.To != "" {
			return appendIRCWord(dst, m.To)
		}
		return appendIRCWord(append(dst, '#'), m.Room)
	}
	switch m.Kind {
	case Say, Action:
		dst = append(dst, " PRIVMSG "...)
		dst = target(dst)
		dst = append(dst, " :"...)
		if m.Kind == Action {
			dst = append(dst, "\x01ACTION "...)
			dst = irc.AppendText(dst, m.Text)
			dst = append(dst, '\x01')
		} else {
			dst = irc.AppendText(dst, m.Text)
		}
	case Notice:
		dst = append(dst, " NOTICE "...)
		dst = target(dst)
		dst = append(dst, " :"...)
		dst = irc.AppendText(dst, m.Text)
	case Join:
		dst = append(dst, " JOIN "...)
		dst = target(dst)
	case Part:
		dst = append(dst, " PART "...)
		dst = target(dst)
		if m.Text != "" {
			dst = append(dst, " :"...)
			dst = irc.AppendText(dst, m.Text)
		}
	case Quit:
		dst = append(dst, " QUIT :"...)
		dst = irc.AppendText(dst, m.Text)
	case Rename:
		dst = append(dst, " NICK :"...)
		dst = appendIRCWord(dst, m.Text)
	case Topic:
		dst = append(dst, " TOPIC "...)
		dst = target(dst)
		dst = append(dst, " :"...)
		dst = irc.AppendText(dst, m.Text)
	case Kick:
		dst = append(dst, " KICK #"...)
		dst = appendIRCWord(dst, m.Room)
		dst = append(dst, ' ')
		dst = appendIRCWord(dst, m.Target)
		dst = append(dst, " :"...)
		dst = irc.AppendText(dst, m.Text)
	case Mode:
		dst = append(dst, " MODE #"...)
		dst = appendIRCWord(dst, m.Room)
		dst = append(dst, ' ')
		dst = irc.AppendText(dst, m.Text)
	case Invite:
		dst = append(dst, " INVITE "...)
		dst = appendIRCWord(dst, m.To)
		dst = append(dst, " #"...)
		dst = appendIRCWord(dst, m.Room)
	}
	return append(dst, '\r', '\n')
}

// inBatch rewrites one encoded message to carry the tag batch=id.
func inBatch(dst, msg []byte, id string) []byte {
	dst = append(dst, "@batch="+id...)
	if len(msg) > 0 && msg[0] == '@' {
		dst = append(dst, ';')
		return append(dst, msg[1:]...)
	}
	dst = append(dst, ' ')
	return append(dst, msg...)
}

// appendMsgID writes a kept message's IRC msgid: its room and sequence.
func appendMsgID(dst []byte, m *Msg) []byte {
	dst = appendIRCWord(dst, m.Room)
	dst = append(dst, '/')
	return strconv.AppendUint(dst, m.Seq, 10)
}

func fmtTime(t time.Time) string { return t.UTC().Format(ircTime) }
