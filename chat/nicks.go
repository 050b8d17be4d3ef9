package chat

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/portside/portside/proto/irc"
)

// This file is the hub's nicks: registering one, renaming, and claiming
// it first from a NickRegistry when hubs share a backend.

// Register gives m its nick and puts it in the hub. When the answer is at
// hand it returns it and never calls done: nil, ErrBadNick (nicks follow
// IRC's rules, at most 30 bytes), ErrBadText (ident or real name breaking
// the text rules; ident is one word), ErrNickInUse, or ErrClosed once the
// hub has stopped. With a NickRegistry (a backend shared by several hubs) the
// nick must be claimed first: Register returns ErrPending, and done is
// called once, from another goroutine and after Register has returned,
// with nil once m is registered, or why not (ErrNickInUse, the registry's
// error, ErrClosed if m quit or the hub stopped meanwhile; the claimed
// nick is then released). The door must not let m do anything else until
// then. done may be nil when the outcome does not matter.
func (h *Hub) Register(m *Member, nick, ident, real string, done func(error)) error {
	if !irc.ValidNick(nick, nickLen) {
		return ErrBadNick
	}
	if checkWord(ident) != nil || CheckText(real) != nil {
		return ErrBadText
	}
	reg, _ := h.o.Backend.(NickRegistry)
	if reg == nil {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.registerLocked(m, nick, ident, real)
	}
	if h.closed.Load() {
		return ErrClosed
	}
	if h.lookup(nick) != nil {
		return ErrNickInUse
	}
	h.claim(reg, Who{nick, ident, real}, done, func() error {
		return h.registerLocked(m, nick, ident, real)
	})
	return ErrPending
}

// registerLocked gives m its nick, if it is still free here. h.mu is held.
func (h *Hub) registerLocked(m *Member, nick, ident, real string) error {
	if h.closed.Load() || m.quit {
		return ErrClosed
	}
	key := foldNick(nick)
	if h.nicks[key] != nil {
		return ErrNickInUse
	}
	h.nicks[key] = m
	m.nick, m.ident, m.real, m.since = nick, ident, real, h.o.Now()
	h.settle(m)
	return nil
}

// Rename changes m's nick and tells everyone who shares a room with m, and
// m itself. Like Register, it returns the answer when it is at hand (nil,
// ErrBadNick, ErrNickInUse), and otherwise ErrPending, and later calls
// done once from another goroutine, once the new nick is claimed and m
// renamed, or with why not.
func (h *Hub) Rename(m *Member, nick string, done func(error)) error {
	if !irc.ValidNick(nick, nickLen) {
		return ErrBadNick
	}
	reg, _ := h.o.Backend.(NickRegistry)
	if reg == nil || foldNick(nick) == foldNick(m.nick) {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.renameLocked(m, nick, nil)
	}
	if other := h.lookup(nick); other != nil && other != m {
		return ErrNickInUse
	}
	h.mu.RLock()
	who := Who{nick, m.ident, m.real}
	h.mu.RUnlock()
	h.claim(reg, who, done, func() error {
		if h.closed.Load() || m.quit {
			return ErrClosed
		}
		return h.renameLocked(m, nick, reg)
	})
	return ErrPending
}

// renameLocked renames m, if nick is still free here, and releases its old
// nick from reg, unless nil. h.mu is held.
func (h *Hub) renameLocked(m *Member, nick string, reg NickRegistry) error {
	key := foldNick(nick)
	if other := h.nicks[key]; other != nil && other != m {
		return ErrNickInUse
	}
	if reg != nil {
		reg.ReleaseNick(m.nick)
	}
	h.gaveUpLocked(m) // before the peers are told, as in Quit
	ev := &Msg{Kind: Rename, Time: h.o.Now(), Nick: m.nick, Ident: m.ident, Text: nick}
	h.toPeersLocked(m, ev, true)
	if h.relay != nil && len(m.rooms) > 0 {
		ev.Rooms = roomNames(m.rooms)
		h.relay.Relay(ev)
	}
	h.renameModesLocked(m, nick)
	delete(h.nicks, foldNick(m.nick))
	h.nicks[key] = m
	for _, r := range m.rooms {
		if r.presence != nil {
			r.presence.Parted(r.name, m.nick)
			r.presence.Joined(r.name, nick)
		}
	}
	m.nick = nick
	return nil
}

// claim claims nick from reg and, if it is granted, runs complete under
// h.mu; if complete fails, the nick is released again. Then it calls done
// (if not nil) with the outcome: never before claim has returned, even
// should reg answer at once.
func (h *Hub) claim(reg NickRegistry, who Who, done func(error), complete func() error) {
	nick := who.Nick
	const (
		waiting  = iota // neither claim has returned nor the answer come
		returned        // claim returned first: the answer finishes
		answered        // the answer came first: claim finishes
	)
	var state atomic.Int32
	var answer error
	finish := func(err error) {
		if err == nil {
			h.mu.Lock()
			err = complete()
			h.mu.Unlock()
			if err != nil {
				reg.ReleaseNick(nick)
			}
		}
		if done != nil {
			done(err)
		}
	}
	reg.ClaimNick(who, func(err error) {
		answer = err
		if state.CompareAndSwap(waiting, answered) {
			return
		}
		finish(err)
	})
	if !state.CompareAndSwap(waiting, returned) {
		go finish(answer)
	}
}

// Remote tells of the member called nick on another hub, from a backend
// that is a Directory: who it is and the rooms it is in there. What the
// other hub wrote must keep this hub's rules (text.go), or it is not
// shown.
func (h *Hub) Remote(nick string) (w Who, rooms []string, ok bool) {
	d, _ := h.o.Backend.(Directory)
	if d == nil {
		return Who{}, nil, false
	}
	w, rooms, ok = d.Lookup(nick)
	if !ok {
		return Who{}, nil, false
	}
	if !irc.ValidNick(w.Nick, nickLen) || checkWord(w.Ident) != nil || CheckText(w.Real) != nil {
		h.o.Logger.Warn("chat: another node's record of a nick breaks the text rules", "nick", nick)
		return Who{}, nil, false
	}
	rooms = slices.DeleteFunc(slices.Clone(rooms), func(r string) bool { return !ValidRoom(r) })
	return w, rooms, true
}

// lookup finds the member called nick.
func (h *Hub) lookup(nick string) *Member {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.nicks[foldNick(nick)]
}

// Whois is what the hub tells of one of its members: who it is, its away
// message, when it registered, how long it has been idle, whether it is a
// server operator, and the rooms it is in, with its prefix in each.
type Whois struct {
	Who
	Away   string
	Since  time.Time
	Idle   time.Duration
	Oper   bool
	Rooms  []string
	Prefix []string // Prefix[i] is "@", "+" or "" in Rooms[i]
}

// WhoisOf tells of the member called nick on this hub, as asker sees it:
// a secret room (+s) is left out unless asker is in it too. ok is false
// when no member here has that nick. It takes h.mu.
func (h *Hub) WhoisOf(asker *Member, nick string) (w Whois, ok bool) {
	h.mu.RLock()
	t := h.nicks[foldNick(nick)]
	if t == nil {
		h.mu.RUnlock()
		return Whois{}, false
	}
	w = Whois{Who: Who{t.nick, t.ident, t.real}, Away: t.away, Since: t.since, Oper: t.oper.Load()}
	for _, r := range t.rooms {
		if st := h.modes[r.name]; st != nil && st.flags&modeSecret != 0 && !slices.Contains(asker.rooms, r) {
			continue // +s: not shown to those not in it
		}
		w.Rooms = append(w.Rooms, r.name)
		w.Prefix = append(w.Prefix, h.prefixLocked(r.name, t.nick))
	}
	h.mu.RUnlock()
	w.Idle = time.Duration(h.o.Now().UnixNano() - t.lastIn.Load())
	return w, true
}

// WhoNick returns the member called nick on this hub as a listing shows
// it, with no prefix; ok is false when no member here has that nick. It
// takes h.mu.
func (h *Hub) WhoNick(nick string) (l Listed, ok bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	t := h.nicks[foldNick(nick)]
	if t == nil {
		return Listed{}, false
	}
	return Listed{Who{t.nick, t.ident, t.real}, t.away, ""}, true
}
