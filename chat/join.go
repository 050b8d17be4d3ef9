package chat

import (
	"slices"
	"time"
)

// This file is joining and leaving rooms, and quitting the hub. With a
// Follower backend, a join waits for the room to catch up.

// joinReq is a Join waiting for its room to catch up.
type joinReq struct {
	m      *Member
	leave  string // a room to leave first, if m is in it
	key    string
	joined func(*Room)
	done   func(error)
}

// Join puts m in the room called name, creating it, and tells its members
// (m included). Under the room's lock, so that no message slips between,
// joined is called (for the door's own replies: topic, names; it may use
// the Room's methods) and then the latest messages are replayed to m.
// Joining a room m is in does nothing.
//
// With a backend that reads only followed rooms (a Follower), joining a
// room that has no member here must wait for the backend to catch up with
// the room: Join returns ErrPending and, later, completes the join as above
// and calls done with its outcome, from another goroutine and without the
// hub's locks. Otherwise it returns the outcome and never calls done.
func (h *Hub) Join(m *Member, name string, joined func(r *Room), done func(error)) error {
	return h.join(m, name, "", "", joined, done)
}

// JoinKey is Join with the room's key, for a room that has one (+k).
func (h *Hub) JoinKey(m *Member, name, key string, joined func(r *Room), done func(error)) error {
	return h.join(m, name, "", key, joined, done)
}

// join is Join that, once the join can go ahead, first takes m out of the
// room called leave (if m is in it): the line door's move from one room to
// another. Both happen under the hub's lock, so m and the room left hear
// of the parting before the joining, and a join that fails leaves m where
// it was.
func (h *Hub) join(m *Member, name, leave, key string, joined func(r *Room), done func(error)) error {
	if !ValidRoom(name) {
		return ErrBadRoom
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[name]
	if r != nil && slices.Contains(m.rooms, r) {
		return nil
	}
	if len(m.rooms)-h.leaving(m, leave, r) >= h.o.MaxRooms {
		return ErrTooMany
	}
	if r == nil && len(h.rooms) >= h.o.MaxTotalRooms && !h.forgetRoomLocked() {
		return ErrTooManyRooms
	}
	r = h.roomLocked(name)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.members) >= h.o.MaxRoomMembers {
		return ErrRoomFull
	}
	if err := h.admitLocked(m, r, key); err != nil {
		h.unusedLocked(r)
		return err
	}
	if h.follower != nil && r.follow != followLive {
		w := &joinReq{m, leave, key, joined, done}
		r.waiting = append(r.waiting, w)
		// The room's wait, not the connection's: it ends with the room's
		// catch-up, for all its waiting joins at once, under the hub's
		// locks; a timer here only in a cluster, for a room not yet
		// followed.
		time.AfterFunc(h.o.JoinTimeout, func() { h.joinTimedOut(r, w) })
		if r.follow == followNone {
			r.follow = followCatching
			r.gen++
			mark := &Msg{Room: name, room: r, caught: &caughtUpMark{gen: r.gen}}
			h.follower.Follow(name, func(history []*Msg) {
				mark.caught.history = history
				h.deliver([]*Msg{mark})
			})
		}
		return ErrPending
	}
	h.leaveLocked(m, leave, r)
	h.joinLocked(m, r, joined)
	return nil
}

// leaving is 1 if m is in the room called leave, other than r, else 0.
// h.mu is held.
func (h *Hub) leaving(m *Member, leave string, r *Room) int {
	if old := h.rooms[leave]; leave != "" && old != nil && old != r && slices.Contains(m.rooms, old) {
		return 1
	}
	return 0
}

// leaveLocked takes m out of the room called leave, telling its members, if
// m is in it and it is not r. h.mu is held.
func (h *Hub) leaveLocked(m *Member, leave string, r *Room) {
	if h.leaving(m, leave, r) == 1 {
		h.partLocked(m, h.rooms[leave], "", true)
	}
}

// joinLocked puts m in r. h.mu and r.mu are held.
func (h *Hub) joinLocked(m *Member, r *Room, joined func(r *Room)) {
	r.members = append(r.members, m)
	r.count.Store(int32(len(r.members)))
	h.joinedModesLocked(m, r)
	m.rooms = append(m.rooms, r)
	if r.presence != nil {
		r.presence.Joined(r.name, m.nick)
	}
	ev := &Msg{Kind: Join, Room: r.name, Time: h.o.Now(), Nick: m.nick, Ident: m.ident}
	var enc encodings
	for _, p := range r.members {
		p.out.Write(enc.get1(h, p.format.Load(), ev))
	}
	h.relayEvent(ev)
	if joined != nil {
		joined(r)
	}
	if h.o.Replay > 0 {
		f := m.format.Load()
		var buf []byte
		for _, old := range r.latest(h.o.Replay) {
			buf = h.formats[f](buf, old, true)
		}
		m.out.Write(buf)
	}
}

// caughtUp handles a Follower's mark: the room has its history, and the
// joins that waited for it complete.
func (h *Hub) caughtUp(mark *Msg) {
	r := mark.room
	var dones []func()
	h.mu.Lock()
	r.mu.Lock()
	if r.gen == mark.caught.gen && r.follow == followCatching {
		for _, m := range mark.caught.history {
			if m.Seq > r.lastSeq {
				r.push(m)
			}
		}
		r.follow = followLive
		waiting := r.waiting
		r.waiting = nil
		for _, w := range waiting {
			var err error
			switch {
			case h.closed.Load() || w.m.quit || h.nicks[foldNick(w.m.nick)] != w.m:
				err = ErrClosed // quit while waiting
			case slices.Contains(w.m.rooms, r):
			case len(w.m.rooms)-h.leaving(w.m, w.leave, r) >= h.o.MaxRooms:
				err = ErrTooMany
			case len(r.members) >= h.o.MaxRoomMembers:
				err = ErrRoomFull
			default:
				if err = h.admitLocked(w.m, r, w.key); err == nil {
					h.leaveLocked(w.m, w.leave, r)
					h.joinLocked(w.m, r, w.joined)
				}
			}
			if w.done != nil {
				dones = append(dones, func() { w.done(err) })
			}
		}
		h.unfollowLocked(r)
	}
	r.mu.Unlock()
	h.mu.Unlock()
	for _, d := range dones {
		d()
	}
}

// joinTimedOut fails w with ErrNotReady if it still waits for r.
func (h *Hub) joinTimedOut(r *Room, w *joinReq) {
	h.mu.Lock()
	r.mu.Lock()
	i := slices.Index(r.waiting, w)
	if i >= 0 {
		r.waiting = slices.Delete(r.waiting, i, i+1)
		h.unfollowLocked(r)
	}
	empty := len(r.members) == 0 && len(r.ring) == 0 && len(r.waiting) == 0 && r.follow == followNone
	r.mu.Unlock()
	if empty && h.rooms[r.name] == r {
		delete(h.rooms, r.name)
	}
	h.mu.Unlock()
	if i >= 0 && w.done != nil {
		w.done(ErrNotReady)
	}
}

// unfollowLocked stops following r if no one here is in it or waits to
// be. h.mu and r.mu are held.
func (h *Hub) unfollowLocked(r *Room) {
	if h.follower == nil || r.follow == followNone || len(r.members) > 0 || len(r.waiting) > 0 {
		return
	}
	r.follow = followNone
	h.follower.Unfollow(r.name)
}

// partLocked takes m out of room r and, if tell, tells its members (m
// included); a quit tells each peer once, itself. h.mu is held.
func (h *Hub) partLocked(m *Member, r *Room, reason string, tell bool) {
	r.mu.Lock()
	if i := slices.Index(r.members, m); i >= 0 {
		if tell {
			ev := &Msg{Kind: Part, Room: r.name, Time: h.o.Now(), Nick: m.nick, Ident: m.ident, Text: reason}
			var enc encodings
			for _, p := range r.members {
				p.out.Write(enc.get1(h, p.format.Load(), ev))
			}
			h.relayEvent(ev)
		}
		if r.presence != nil {
			r.presence.Parted(r.name, m.nick)
		}
		last := len(r.members) - 1
		r.members[i] = r.members[last]
		r.members[last] = nil
		r.members = r.members[:last]
		r.count.Store(int32(len(r.members)))
		h.unfollowLocked(r)
	}
	empty := len(r.members) == 0 && len(r.ring) == 0 && len(r.waiting) == 0 && r.follow == followNone
	nobody := len(r.members) == 0
	r.mu.Unlock()
	if empty && h.rooms[r.name] == r {
		delete(h.rooms, r.name)
	}
	if nobody {
		h.emptiedLocked(r)
	}
	if i := slices.Index(m.rooms, r); i >= 0 {
		m.rooms = slices.Delete(m.rooms, i, i+1)
	}
}

// Part takes m out of the room called name and tells its members, m
// included. A reason breaking the text rules is ErrBadText: m stays.
func (h *Hub) Part(m *Member, name, reason string) error {
	if err := CheckText(reason); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[name]
	if r == nil {
		return ErrBadRoom
	}
	if !slices.Contains(m.rooms, r) {
		return ErrNotIn
	}
	h.partLocked(m, r, reason, true)
	return nil
}

// Quit takes m out of the hub: out of its rooms, its nick freed, its peers
// told once. Safe to call for a member never registered, and more than once.
// A door calls it when its connection closes. A quit is never refused: a
// reason that breaks the text rules is replaced by "Quit" (a door checks
// the client's reason with CheckText first, and tells it).
func (h *Hub) Quit(m *Member, reason string) {
	h.settle(m)
	if CheckText(reason) != nil {
		reason = "Quit"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	m.quit = true // a nick claim still out is released when it comes back
	if m.nick == "" || h.nicks[foldNick(m.nick)] != m {
		return
	}
	// Remembered before the peers are told: one who sees the QUIT and asks
	// WHOWAS or LUSERS at once gets the answer that includes it.
	h.quitLocked(m)
	ev := &Msg{Kind: Quit, Time: h.o.Now(), Nick: m.nick, Ident: m.ident, Text: reason}
	h.toPeersLocked(m, ev, false)
	if h.relay != nil && len(m.rooms) > 0 {
		ev.Rooms = roomNames(m.rooms)
		h.relay.Relay(ev)
	}
	for len(m.rooms) > 0 {
		h.partLocked(m, m.rooms[len(m.rooms)-1], "", false)
	}
	delete(h.nicks, foldNick(m.nick))
	if reg, ok := h.o.Backend.(NickRegistry); ok {
		reg.ReleaseNick(m.nick)
	}
}
