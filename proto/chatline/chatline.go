// Package chatline parses the chat server's line protocol: what a person
// types into nc or telnet. A line that starts with a slash is a command
// ("/join lobby"); any other line is something to say in the current room.
// Two slashes say a line that starts with one ("//shrug" says "/shrug").
//
// It is pure: it turns one line into a Command and never does I/O.
package chatline

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Kind is what a line asks for.
type Kind uint8

const (
	Say     Kind = iota // plain text for the current room
	Join                // /join ROOM
	Part                // /part [REASON]
	Nick                // /nick NEW
	Who                 // /who
	Rooms               // /rooms
	Msg                 // /msg NICK TEXT
	Me                  // /me ACTION
	History             // /history [N]
	Help                // /help
	Quit                // /quit [REASON]
	Oper                // /oper NAME PASSWORD
	Kill                // /kill NICK [REASON]
	Wallops             // /wallops TEXT
	Whowas              // /whowas NICK

	// Moderation, for a room's operators.
	Op      // /op NICK
	Deop    // /deop NICK
	Voice   // /voice NICK
	Devoice // /devoice NICK
	Kick    // /kick NICK [REASON]
	Ban     // /ban MASK
	Unban   // /unban MASK
	Mute    // /mute: the room is moderated (+m)
	Unmute  // /unmute
	Invite  // /invite NICK
	Topic   // /topic [TEXT]
	Mode    // /mode [+/-FLAGS PARAMS]
)

var names = map[string]Kind{
	"join": Join, "j": Join, "part": Part, "leave": Part, "nick": Nick, "who": Who, "names": Who,
	"rooms": Rooms, "list": Rooms, "msg": Msg, "m": Msg, "me": Me, "history": History,
	"help": Help, "?": Help, "quit": Quit, "exit": Quit,
	"oper": Oper, "kill": Kill, "wallops": Wallops, "whowas": Whowas,
	"op": Op, "deop": Deop, "voice": Voice, "devoice": Devoice, "kick": Kick, "ban": Ban,
	"unban": Unban, "mute": Mute, "unmute": Unmute, "invite": Invite, "topic": Topic, "mode": Mode,
}

// Errors from Parse. An ErrUsage error wraps the command's usage line.
var (
	ErrUnknown = errors.New("chatline: unknown command")
	ErrUsage   = errors.New("chatline: usage")
	ErrUTF8    = errors.New("chatline: line is not valid UTF-8")
	ErrEmpty   = errors.New("chatline: empty line")
)

// Usage is the one-line usage of each command, for errors and /help.
var Usage = map[Kind]string{
	Join:    "/join ROOM [KEY]",
	Part:    "/part [REASON]",
	Nick:    "/nick NEW",
	Who:     "/who",
	Rooms:   "/rooms",
	Msg:     "/msg NICK TEXT",
	Me:      "/me ACTION",
	History: "/history [N]",
	Help:    "/help",
	Quit:    "/quit [REASON]",
	Oper:    "/oper NAME PASSWORD",
	Kill:    "/kill NICK [REASON]",
	Wallops: "/wallops TEXT",
	Whowas:  "/whowas NICK",
	Op:      "/op NICK",
	Deop:    "/deop NICK",
	Voice:   "/voice NICK",
	Devoice: "/devoice NICK",
	Kick:    "/kick NICK [REASON]",
	Ban:     "/ban MASK",
	Unban:   "/unban MASK",
	Mute:    "/mute",
	Unmute:  "/unmute",
	Invite:  "/invite NICK",
	Topic:   "/topic [TEXT]",
	Mode:    "/mode [+/-FLAGS [PARAMS]]",
}

// Command is one parsed line.
type Command struct {
	Kind Kind
	Arg  string // ROOM, NICK, MASK, the NEW nick or the operator NAME; empty if none
	Text string // what to say, the action, the reason, the topic, a room's KEY, MODE's words, the PASSWORD
	N    int    // for History: how many, 0 if not given
}

// UsageError says how a command is used.
type UsageError struct{ Kind Kind }

func (e *UsageError) Error() string { return "usage: " + Usage[e.Kind] }
func (e *UsageError) Unwrap() error { return ErrUsage }

// Parse parses one line, without its terminator. Whitespace around a
// command and its arguments is trimmed; said text is kept as typed, except
// for a trailing CR a terminal may leave.
func Parse(line []byte) (Command, error) {
	if !utf8.Valid(line) {
		return Command{}, ErrUTF8
	}
	s := strings.TrimRight(string(line), "\r")
	if strings.TrimSpace(s) == "" {
		return Command{}, ErrEmpty
	}
	if !strings.HasPrefix(s, "/") {
		return Command{Kind: Say, Text: s}, nil
	}
	if strings.HasPrefix(s, "//") {
		return Command{Kind: Say, Text: s[1:]}, nil
	}
	name, rest, _ := strings.Cut(strings.TrimSpace(s[1:]), " ")
	k, ok := names[strings.ToLower(name)]
	if !ok {
		return Command{}, ErrUnknown
	}
	rest = strings.TrimSpace(rest)
	c := Command{Kind: k}
	switch k {
	case Join:
		arg, key, _ := strings.Cut(rest, " ")
		key = strings.TrimSpace(key)
		if arg == "" || strings.Contains(key, " ") {
			return Command{}, &UsageError{k}
		}
		c.Arg, c.Text = arg, key
	case Nick, Whowas, Op, Deop, Voice, Devoice, Ban, Unban, Invite:
		arg, extra, _ := strings.Cut(rest, " ")
		if arg == "" || strings.TrimSpace(extra) != "" {
			return Command{}, &UsageError{k}
		}
		c.Arg = arg
	case Kick:
		arg, text, _ := strings.Cut(rest, " ")
		if arg == "" {
			return Command{}, &UsageError{k}
		}
		c.Arg, c.Text = arg, strings.TrimSpace(text)
	case Topic, Mode:
		c.Text = rest
	case Msg, Oper:
		arg, text, _ := strings.Cut(rest, " ")
		text = strings.TrimSpace(text)
		if arg == "" || text == "" {
			return Command{}, &UsageError{k}
		}
		c.Arg, c.Text = arg, text
	case Kill:
		arg, text, _ := strings.Cut(rest, " ")
		if arg == "" {
			return Command{}, &UsageError{k}
		}
		c.Arg, c.Text = arg, strings.TrimSpace(text)
	case Me, Wallops:
		if rest == "" {
			return Command{}, &UsageError{k}
		}
		c.Text = rest
	case Part, Quit:
		c.Text = rest
	case History:
		if rest != "" {
			n, ok := atoi(rest)
			if !ok || n <= 0 {
				return Command{}, &UsageError{k}
			}
			c.N = n
		}
	default:
		if rest != "" {
			return Command{}, &UsageError{k}
		}
	}
	return c, nil
}

// atoi parses a small positive decimal number; it saturates rather than
// overflowing, so "/history 99999999999999999999" asks for a lot, not for
// a negative amount.
func atoi(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = min(n*10+int(c-'0'), 1<<30)
	}
	return n, true
}
