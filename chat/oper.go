package chat

import (
	"crypto/rand"
	"errors"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/portside/portside/proto/irc"
)

// This file is the server operators: members who gave an operator name
// and its password (Options.Opers), and may then act in any room,
// disconnect others (KILL) and write to all who want it (WALLOPS).

// Errors of the operator commands.
var (
	// ErrOperFailed answers OPER with a wrong password or an unknown
	// name: the two are answered alike, so that a client cannot tell
	// which names exist.
	ErrOperFailed = errors.New("chat: wrong operator name or password")
	// ErrNoPrivileges refuses an operator's command to a member who is
	// not one.
	ErrNoPrivileges = errors.New("chat: permission denied: you are not a server operator")
)

// HashOperPassword returns the bcrypt hash of an operator's password, for
// Options.Opers.
func HashOperPassword(password string) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(b), err
}

// CheckOperHash reports whether hash is a bcrypt hash Options.Opers can
// hold.
func CheckOperHash(hash string) error {
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return errors.New("not a bcrypt hash (make one with portside chat passwd)")
	}
	return nil
}

// IsOper reports whether m is a server operator. A server operator may do
// in any room what a channel operator may do in theirs: checks of channel
// privileges consult it first. It is safe to call from any goroutine.
func (h *Hub) IsOper(m *Member) bool { return m.oper.Load() }

// Oper checks name and password against Options.Opers for m, whose
// client is at host (as Host gives it), and makes m a server operator if
// they are right. It answers through done, always from another goroutine:
// bcrypt takes the CPU for tens of milliseconds, which the engine's
// goroutine must not wait for, and a wrong attempt is answered only after
// a pause. The pause is the address's password wait (as for Password: see
// CheckPassword), so a client cannot guess fast, nor by opening more
// connections; an address that was wrong lately also waits before its
// attempt is checked. An unknown name takes as long as a wrong password
// and gets the same answer, ErrOperFailed. Each attempt is logged with the
// address.
func (h *Hub) Oper(m *Member, host, name, password string, done func(error)) {
	nick := m.nick // the door holds its input meanwhile: it does not change
	wait := h.guard.turn(host, h.o.Now().UnixNano())
	time.AfterFunc(wait, func() {
		ok := h.operMatch(name, password)
		now := h.o.Now().UnixNano()
		h.guard.result(host, ok, now)
		if ok {
			// Under h.mu, so that a member who quit meanwhile is not
			// counted: Quit uncounts it under h.mu.
			h.mu.Lock()
			if !m.quit && m.oper.CompareAndSwap(false, true) {
				h.opers.Add(1)
			}
			h.mu.Unlock()
			h.o.Logger.Info("chat oper", "addr", host, "nick", nick, "name", name)
			done(nil)
			return
		}
		h.o.Logger.Warn("chat oper failed", "addr", host, "nick", nick, "name", name)
		time.AfterFunc(h.guard.pause(host), func() { done(ErrOperFailed) })
	})
}

// operMatch checks a password against name's hash, in constant time
// (bcrypt's comparison is), and against a hash of a random password for
// an unknown name, so that both take as long.
func (h *Hub) operMatch(name, password string) bool {
	hash, known := h.o.Opers[name]
	if !known {
		h.dummyOnce.Do(func() {
			h.dummyHash, _ = bcrypt.GenerateFromPassword([]byte(rand.Text()), h.operCost())
		})
		bcrypt.CompareHashAndPassword(h.dummyHash, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// operCost is the bcrypt cost of the configured hashes (the highest), so
// that an unknown name costs what a known one does.
func (h *Hub) operCost() int {
	cost := 0
	for _, hash := range h.o.Opers {
		if c, err := bcrypt.Cost([]byte(hash)); err == nil {
			cost = max(cost, c)
		}
	}
	if cost == 0 {
		return bcrypt.DefaultCost
	}
	return cost
}

// Deoper makes m an ordinary member again (IRC's MODE nick -o).
func (h *Hub) Deoper(m *Member) {
	if m.oper.CompareAndSwap(true, false) {
		h.opers.Add(-1)
	}
}

// Kill disconnects the member called nick for reason; by must be a server
// operator, and host is where by's client is (for the log). The victim's
// client is told `Killed (by (reason))`, and everyone in its rooms sees it
// quit for that. A nick held by another hub is killed there: the backend
// relays the kill to it (see remoteKill). Errors: ErrNoPrivileges,
// ErrNoSuchNick (no hub holds nick), ErrTooLong, ErrBadText (for the
// reason), or the Relay's error.
func (h *Hub) Kill(by *Member, host, nick, reason string) error {
	if !by.oper.Load() {
		return ErrNoPrivileges
	}
	if len(reason) > h.o.MaxMessage {
		return ErrTooLong
	}
	if err := CheckText(reason); err != nil {
		return err
	}
	if reason == "" {
		reason = "No reason given"
	}
	t := h.lookup(nick)
	if t == nil {
		if h.relay == nil {
			return ErrNoSuchNick
		}
		// Perhaps on another hub: the Relay finds it, or answers
		// ErrNoSuchNick.
		ev := &Msg{Kind: Kill, Time: h.o.Now(), Nick: by.nick, Ident: by.ident, To: nick, Text: reason}
		if err := h.relay.Relay(ev); err != nil {
			return err
		}
		h.o.Logger.Warn("chat kill relayed", "addr", host, "nick", by.nick, "victim", nick, "reason", reason)
		return nil
	}
	h.mu.RLock()
	victim, ident := t.nick, t.ident
	h.mu.RUnlock()
	_, victimHost, _ := strings.Cut(ident, "@")
	h.o.Logger.Warn("chat kill", "addr", host, "nick", by.nick, "victim", victim, "victim_addr", victimHost, "reason", reason)
	h.Disconnect(t, "Killed ("+by.nick+" ("+reason+"))")
	return nil
}

// remoteKill carries out a Kill relayed by another hub. That hub checked
// that its sender is a server operator (who is one is each hub's own
// business), and the text rules held on the way in (dropInvalid); a nick
// that has left meanwhile is not looked for further. The log says who
// killed, as the other hub knows them (ident), and whom, as this one does.
func (h *Hub) remoteKill(ev *Msg) {
	t := h.lookup(ev.To)
	if t == nil {
		return
	}
	h.mu.RLock()
	victim, ident := t.nick, t.ident
	h.mu.RUnlock()
	_, victimHost, _ := strings.Cut(ident, "@")
	h.o.Logger.Warn("chat kill", "nick", ev.Nick, "ident", ev.Ident, "victim", victim, "victim_addr", victimHost, "reason", ev.Text, "remote", true)
	h.Disconnect(t, "Killed ("+ev.Nick+" ("+ev.Text+"))")
}

// Wallops sends text from by, a server operator, to every member who
// asked for WALLOPS (IRC's user mode +w) and to every operator, by
// included: on this hub at once, and on the others through the Relay,
// each showing it to its own. IRC clients see a WALLOPS, line-door users
// a line of their own. Errors: ErrNoPrivileges, ErrTooLong, ErrBadText.
func (h *Hub) Wallops(by *Member, text string) error {
	if !by.oper.Load() {
		return ErrNoPrivileges
	}
	if len(text) > h.o.MaxMessage {
		return ErrTooLong
	}
	if err := CheckText(text); err != nil {
		return err
	}
	h.mu.RLock()
	ev := &Msg{Kind: Wallops, Time: h.o.Now(), Nick: by.nick, Ident: by.ident, Text: text}
	h.mu.RUnlock()
	h.wallops(ev)
	h.relayEvent(ev)
	return nil
}

// wallops shows ev, a Wallops from this hub or another, to this hub's
// operators and members with +w.
func (h *Hub) wallops(ev *Msg) {
	h.mu.RLock()
	var to []*Member
	for _, m := range h.nicks {
		if m.wallops.Load() || m.oper.Load() {
			to = append(to, m)
		}
	}
	h.mu.RUnlock()
	var ircLine, lineLine []byte
	for _, m := range to {
		switch m.door.(type) {
		case *ircConn:
			if ircLine == nil {
				source := ev.Nick
				if ev.Ident != "" {
					source += "!" + ev.Ident
				}
				ircLine = []byte(":" + source + " WALLOPS :" + ev.Text + "\r\n")
			}
			m.out.Write(ircLine)
		case *lineConn:
			if lineLine == nil {
				lineLine = appendLines(nil, "!"+ev.Nick+"! "+ev.Text)
			}
			m.out.Write(lineLine)
		}
	}
}

// The IRC door's operator commands.

func (i *ircConn) operCmd(m *irc.Message) {
	i.hub.Oper(&i.Member, Host(i.c.RemoteAddr()), m.Params[0], m.Params[1], func(err error) {
		i.gate.Resume(i.c, func() { i.opered(err) }, i.lines)
	})
	// What the client sends meanwhile waits for the answer.
	i.gate.Hold()
}

// opered answers OPER. An unknown name is answered as a wrong password,
// 464, never 491 (ERR_NOOPERHOST), which would tell that the name is not
// one.
func (i *ircConn) opered(err error) {
	if err != nil {
		i.reply(irc.ErrPasswdMismatch, "Password incorrect")
		return
	}
	i.reply(irc.RplYoureOper, "You are now an IRC operator")
	i.sendAsSelf("MODE", i.nick, "+o")
}

// sendAsSelf sends a message from the client itself, such as its own mode
// changes.
func (i *ircConn) sendAsSelf(cmd string, params ...string) {
	m := irc.Message{Source: i.nick, Command: cmd, Params: params}
	i.c.Write(m.Append(nil))
}

func (i *ircConn) killCmd(m *irc.Message) {
	nick := m.Params[0]
	switch err := i.hub.Kill(&i.Member, Host(i.c.RemoteAddr()), nick, m.Param(1)); {
	case errors.Is(err, ErrNoPrivileges):
		i.reply(irc.ErrNoPrivileges, "Permission Denied- You're not an IRC operator")
	case errors.Is(err, ErrNoSuchNick):
		i.reply(irc.ErrNoSuchNick, nick, "No such nick/channel")
	case err != nil:
		i.notice("Not killed: " + errText(err))
	}
}

func (i *ircConn) wallopsCmd(m *irc.Message) {
	switch err := i.hub.Wallops(&i.Member, m.Params[0]); {
	case errors.Is(err, ErrNoPrivileges):
		i.reply(irc.ErrNoPrivileges, "Permission Denied- You're not an IRC operator")
	case err != nil:
		i.notice("WALLOPS not sent: " + errText(err))
	}
}

// umodes is the client's user modes, as 221 RPL_UMODEIS shows them.
func (i *ircConn) umodes() string {
	s := "+"
	if i.oper.Load() {
		s += "o"
	}
	if i.wallops.Load() {
		s += "w"
	}
	return s
}

// userMode applies MODE nick CHANGES: +w and -w (WALLOPS), -o (no longer
// an operator; +o is OPER's). Other modes (+i and the like) are accepted
// and ignored. What changed is echoed back, as MODE from the client.
func (i *ircConn) userMode(changes string) {
	wasOper, wasWallops := i.oper.Load(), i.wallops.Load()
	sign := byte('+')
	for j := 0; j < len(changes); j++ {
		switch c := changes[j]; {
		case c == '+' || c == '-':
			sign = c
		case c == 'w':
			i.wallops.Store(sign == '+')
		case c == 'o' && sign == '-':
			i.hub.Deoper(&i.Member)
		}
	}
	var on, off string
	for _, f := range []struct {
		mode     string
		was, now bool
	}{{"o", wasOper, i.oper.Load()}, {"w", wasWallops, i.wallops.Load()}} {
		switch {
		case f.now && !f.was:
			on += f.mode
		case f.was && !f.now:
			off += f.mode
		}
	}
	if on != "" {
		on = "+" + on
	}
	if off != "" {
		off = "-" + off
	}
	if on+off != "" {
		i.sendAsSelf("MODE", i.nick, on+off)
	}
}

// opered answers the line door's /oper.
func (l *lineConn) opered(err error) {
	if err != nil {
		l.say("! Wrong operator name or password.")
		return
	}
	l.say("* You are now a server operator.")
}
