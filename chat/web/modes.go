package web

import (
	"errors"
	"strings"

	"github.com/portside/portside/chat"
)

// The browser's moderation requests (docs/chat.md, Moderation): kick,
// mode, invite and topic, for a room's operators (topic for anyone unless
// the room is +t).

type modesReply struct {
	Type   string     `json:"type"` // "modes"
	Room   string     `json:"room"`
	Modes  string     `json:"modes,omitempty"` // "+ntk sesame"
	Bans   []chat.Ban `json:"bans,omitempty"`
	Listed bool       `json:"listed,omitempty"` // the ban list was asked for
}

// moderate answers a moderation request; it reports false for a request
// type that is not one.
func (cl *client) moderate(r *request) bool {
	h := cl.d.hub
	switch r.Type {
	case "kick":
		errs, err := h.Kick(cl.m, r.Room, []string{r.Target}, r.Text)
		cl.sayErr(r.Room, err)
		cl.modeErrs(r.Room, errs)
	case "invite":
		if _, err := h.Invite(cl.m, r.Target, r.Room); err != nil {
			cl.sayErr(r.Room, err)
		}
	case "topic":
		cl.sayErr(r.Room, h.SetTopic(cl.m, r.Room, r.Text))
	case "mode":
		rep, err := h.Mode(cl.m, r.Room, strings.Fields(r.Text))
		if err != nil {
			cl.sayErr(r.Room, err)
			return true
		}
		if rep.Query || rep.ListBans {
			out := modesReply{Type: "modes", Room: r.Room, Bans: rep.Bans, Listed: rep.ListBans}
			if rep.Query {
				out.Modes = strings.Join(append([]string{rep.Modes}, rep.Params...), " ")
			}
			cl.send(out)
		}
		cl.modeErrs(r.Room, rep.Errs)
	default:
		return false
	}
	return true
}

func (cl *client) modeErrs(room string, errs []chat.ModeError) {
	for _, e := range errs {
		text := e.Error()
		if errors.Is(e.Err, chat.ErrNotOp) {
			text = modeText(room, e.Err)
		}
		cl.fail(modeCode(e.Err), room, text)
	}
}

// modeCode is the error code of a moderation refusal.
func modeCode(err error) string {
	for _, c := range []struct {
		err  error
		code string
	}{
		{chat.ErrNotOp, "not-op"}, {chat.ErrBanned, "banned"}, {chat.ErrInviteOnly, "invite-only"},
		{chat.ErrBadKey, "bad-key"}, {chat.ErrRoomFull, "room-full"}, {chat.ErrModerated, "moderated"},
		{chat.ErrUnknownMode, "unknown-mode"}, {chat.ErrNoSuchNick, "no-such-nick"},
		{chat.ErrTargetNotIn, "not-in-room"}, {chat.ErrAlreadyIn, "already-in"}, {chat.ErrKeySet, "key-set"},
		{chat.ErrBanListFull, "ban-list-full"}, {chat.ErrBadModeParam, "bad-mode-param"}, {chat.ErrNotIn, "not-in"},
	} {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return ""
}

// modeText says a moderation refusal in words.
func modeText(room string, err error) string {
	switch {
	case errors.Is(err, chat.ErrNotOp):
		return "You are not an operator of " + room + "."
	case errors.Is(err, chat.ErrBanned):
		return "You are banned from " + room + "."
	case errors.Is(err, chat.ErrInviteOnly):
		return room + " is invite only: an operator may invite you."
	case errors.Is(err, chat.ErrBadKey):
		return room + " needs its key: /join " + room + " KEY"
	case errors.Is(err, chat.ErrRoomFull):
		return room + " is full."
	case errors.Is(err, chat.ErrModerated):
		return room + " is moderated: only its operators and voiced members speak. That was not sent."
	case errors.Is(err, chat.ErrNoSuchNick):
		return "No one is called that."
	case errors.Is(err, chat.ErrAlreadyIn):
		return "They are already in " + room + "."
	}
	return chat.ModeError{Err: err}.Error()
}
