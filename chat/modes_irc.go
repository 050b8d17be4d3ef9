package chat

import (
	"errors"
	"strconv"
	"strings"

	"github.com/portside/portside/proto/irc"
)

// mode answers MODE: a channel's modes, its ban list, changes to them
// (RFC 2812 §3.2.3), and a user's own modes (userModeCmd).
func (i *ircConn) mode(m *irc.Message) {
	h := i.hub
	target := m.Params[0]
	if !strings.HasPrefix(target, "#") {
		i.userModeCmd(m)
		return
	}
	room, ok := roomOf(target)
	if !ok {
		i.reply(irc.ErrNoSuchChannel, target, "No such channel")
		return
	}
	rep, err := h.Mode(&i.Member, room, m.Params[1:])
	if err != nil {
		i.reply(irc.ErrNoSuchChannel, target, "No such channel")
		return
	}
	if rep.Query {
		i.reply(irc.RplChannelModeIs, append([]string{target, rep.Modes}, rep.Params...)...)
		i.reply(irc.RplCreationTime, target, strconv.FormatInt(rep.Created.Unix(), 10))
	}
	for _, e := range rep.Errs {
		switch {
		case errors.Is(e.Err, ErrUnknownMode):
			i.reply(irc.ErrUnknownMode, e.Arg, "is unknown mode char to me for "+target)
		case errors.Is(e.Err, ErrNotOp):
			i.reply(irc.ErrChanOPrivsNeeded, target, "You're not channel operator")
		case errors.Is(e.Err, ErrNotIn):
			i.reply(irc.ErrNotOnChannel, target, "You're not on that channel")
		case errors.Is(e.Err, ErrNoSuchNick):
			i.reply(irc.ErrNoSuchNick, e.Arg, "No such nick/channel")
		case errors.Is(e.Err, ErrTargetNotIn):
			i.reply(irc.ErrUserNotInChannel, e.Arg, target, "They aren't on that channel")
		case errors.Is(e.Err, ErrKeySet):
			i.reply(irc.ErrKeySet, target, "Channel key already set")
		case errors.Is(e.Err, ErrBanListFull):
			i.reply(irc.ErrBanListFull, target, "b", "Channel ban list is full")
		case errors.Is(e.Err, ErrBadModeParam):
			p := strings.Map(func(r rune) rune { // one word, whatever was sent
				if r <= ' ' {
					return '_'
				}
				return r
			}, e.Param)
			if p == "" {
				p = "*"
			} else if p[0] == ':' {
				p = "_" + p[1:]
			}
			i.reply(irc.ErrInvalidModeParam, target, e.Arg, p, e.Error())
		}
	}
	if rep.ListBans {
		for _, b := range rep.Bans {
			i.reply(irc.RplBanList, target, b.Mask, b.By, strconv.FormatInt(b.At, 10))
		}
		i.reply(irc.RplEndOfBanList, target, "End of channel ban list")
	}
}

// userModeCmd answers a user MODE: only the client's own; +w and -o take
// effect (userMode, oper.go), the other known letters are accepted and
// ignored.
func (i *ircConn) userModeCmd(m *irc.Message) {
	if irc.Fold(m.Params[0]) != irc.Fold(i.nick) {
		i.reply(irc.ErrUsersDontMatch, "Can't change mode for other users")
		return
	}
	if len(m.Params) == 1 {
		i.reply(irc.RplUmodeIs, i.umodes())
		return
	}
	for _, c := range m.Params[1] {
		if !strings.ContainsRune("+-iwsro", c) {
			i.reply(irc.ErrUmodeUnknownFlag, "Unknown MODE flag")
			return
		}
	}
	i.userMode(m.Params[1]) // oper.go: +w, -o
}

// kick answers KICK #chan nick[,nick...] [:reason].
func (i *ircConn) kick(m *irc.Message) {
	h := i.hub
	ch := m.Params[0]
	room, ok := roomOf(ch)
	if !ok {
		i.reply(irc.ErrNoSuchChannel, ch, "No such channel")
		return
	}
	reason := m.Param(2)
	if reason == "" {
		reason = i.nick
	}
	errs, err := h.Kick(&i.Member, room, strings.Split(m.Params[1], ","), reason)
	switch {
	case i.chanRefused(ch, err):
	case err != nil:
		i.notice("Kick refused: " + errText(err))
	}
	for _, e := range errs {
		if errors.Is(e.Err, ErrNoSuchNick) {
			i.reply(irc.ErrNoSuchNick, e.Arg, "No such nick/channel")
		} else {
			i.reply(irc.ErrUserNotInChannel, e.Arg, ch, "They aren't on that channel")
		}
	}
}

// invite answers INVITE nick #chan.
func (i *ircConn) invite(m *irc.Message) {
	nick, ch := m.Params[0], m.Params[1]
	room, ok := roomOf(ch)
	if !ok {
		i.reply(irc.ErrNoSuchChannel, ch, "No such channel")
		return
	}
	got, err := i.hub.Invite(&i.Member, nick, room)
	switch {
	case i.chanRefused(ch, err):
	case errors.Is(err, ErrNoSuchNick):
		i.reply(irc.ErrNoSuchNick, nick, "No such nick/channel")
	case errors.Is(err, ErrAlreadyIn):
		i.reply(irc.ErrUserOnChannel, nick, ch, "is already on channel")
	case err != nil:
		i.notice("Invite refused: " + errText(err))
	default:
		i.reply(irc.RplInviting, got, ch)
	}
}

// chanRefused answers the refusals KICK and INVITE share (no such channel,
// not on it, not its operator) and reports whether err was one of them.
func (i *ircConn) chanRefused(ch string, err error) bool {
	switch {
	case errors.Is(err, ErrBadRoom):
		i.reply(irc.ErrNoSuchChannel, ch, "No such channel")
	case errors.Is(err, ErrNotIn):
		i.reply(irc.ErrNotOnChannel, ch, "You're not on that channel")
	case errors.Is(err, ErrNotOp):
		i.reply(irc.ErrChanOPrivsNeeded, ch, "You're not channel operator")
	default:
		return false
	}
	return true
}
