package chat

import (
	"errors"
	"strings"
	"time"

	"github.com/portside/portside/proto/chatline"
)

// refreshRoom forgets the person's room if they are no longer in it: an
// operator kicked them.
func (l *lineConn) refreshRoom() {
	if l.room == "" {
		return
	}
	if !l.hub.InRoom(&l.Member, l.room) {
		l.room = ""
	}
}

// moderate runs an operator's command on the line door, and /topic.
func (l *lineConn) moderate(cmd chatline.Command) {
	h := l.hub
	if l.room == "" {
		l.say("! You are in no room.")
		return
	}
	room := l.room
	var args []string
	switch cmd.Kind {
	case chatline.Op:
		args = []string{"+o", cmd.Arg}
	case chatline.Deop:
		args = []string{"-o", cmd.Arg}
	case chatline.Voice:
		args = []string{"+v", cmd.Arg}
	case chatline.Devoice:
		args = []string{"-v", cmd.Arg}
	case chatline.Ban:
		args = []string{"+b", cmd.Arg}
	case chatline.Unban:
		args = []string{"-b", cmd.Arg}
	case chatline.Mute:
		args = []string{"+m"}
	case chatline.Unmute:
		args = []string{"-m"}
	case chatline.Mode:
		args = strings.Fields(cmd.Text)
	case chatline.Kick:
		errs, err := h.Kick(&l.Member, room, []string{cmd.Arg}, cmd.Text)
		l.modeErr(room, err)
		for _, e := range errs {
			l.say("! " + e.Error())
		}
		return
	case chatline.Invite:
		nick, err := h.Invite(&l.Member, cmd.Arg, room)
		switch {
		case errors.Is(err, ErrAlreadyIn):
			l.say("! " + cmd.Arg + " is already in " + room + ".")
		case errors.Is(err, ErrNoSuchNick):
			l.say("! No one is called " + cmd.Arg + ".")
		case err != nil:
			l.modeErr(room, err)
		default:
			l.say("* You invited " + nick + " to " + room + ".")
		}
		return
	case chatline.Topic:
		if cmd.Text == "" {
			t, _, _ := h.TopicOf(room)
			if topic := t.Text; topic == "" {
				l.say("* " + room + " has no topic.")
			} else {
				l.say("* Topic of " + room + ": " + topic)
			}
			return
		}
		l.modeErr(room, h.SetTopic(&l.Member, room, cmd.Text))
		return
	}
	rep, err := h.Mode(&l.Member, room, args)
	if err != nil {
		l.modeErr(room, err)
		return
	}
	if rep.Query {
		l.say("* Modes of " + room + ": " + strings.Join(append([]string{rep.Modes}, rep.Params...), " "))
	}
	if rep.ListBans {
		if len(rep.Bans) == 0 {
			l.say("* No one is banned from " + room + ".")
		}
		for _, b := range rep.Bans {
			l.say("* Banned from " + room + ": " + b.Mask + " (by " + b.By + ", " + time.Unix(b.At, 0).UTC().Format(lineTime) + ")")
		}
	}
	for _, e := range rep.Errs {
		if errors.Is(e.Err, ErrNotOp) || errors.Is(e.Err, ErrNotIn) {
			l.modeErr(room, e.Err)
		} else {
			l.say("! " + e.Error())
		}
	}
}

// modeErr tells the person why an operator's command was refused.
func (l *lineConn) modeErr(room string, err error) {
	switch {
	case err == nil:
	case errors.Is(err, ErrNotOp):
		l.say("! You are not an operator of " + room + ".")
	case errors.Is(err, ErrBadRoom):
		l.say("! There is no room " + room + ".")
	case errors.Is(err, ErrNotIn):
		l.say("! You are not in " + room + ".")
	default:
		l.sayErr(err)
	}
}
