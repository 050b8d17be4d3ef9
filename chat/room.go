package chat

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portside/portside/proto/irc"
)

// This file is a room, its replay of recent messages and its topic, and
// the hub's rooms: created on the first join, forgotten when idle, listed.

// Room is one room: its members, its topic and its latest messages.
type Room struct {
	name    string
	created time.Time

	presence Presence // nil unless the backend is shared

	mu      sync.Mutex
	members []*Member
	topic   string
	topicBy string
	topicAt time.Time
	// ring holds the latest delivered messages, for replay on join.
	ring    []*Msg
	ringAt  int
	lastSeq uint64
	count   atomic.Int32

	// With a Follower backend: whether the room is followed, which follow
	// (a caught-up mark of an older one is ignored), and the joins that
	// wait for it to catch up.
	follow  uint8 // followNone, followCatching, followLive
	gen     uint64
	waiting []*joinReq
}

const (
	followNone uint8 = iota
	followCatching
	followLive
)

// Name is the room's name.
func (r *Room) Name() string { return r.name }

// Topic returns the room's topic, who set it and when. Call it only inside
// a Join callback, which holds the room's lock.
func (r *Room) Topic() (topic, by string, at time.Time) { return r.topic, r.topicBy, r.topicAt }

// Nicks returns the members' nicks, unsorted. Call it only inside a Join
// callback, which holds the room's lock.
func (r *Room) Nicks() []string {
	nicks := make([]string, len(r.members))
	for i, m := range r.members {
		nicks[i] = m.nick
	}
	if r.presence != nil {
		for _, n := range r.presence.Elsewhere(r.name) {
			// What another node put in the shared presence is shown
			// only if it is a nick.
			if irc.ValidNick(n, nickLen) {
				nicks = append(nicks, n)
			}
		}
	}
	return nicks
}

func (r *Room) push(m *Msg) {
	if m.Seq > r.lastSeq {
		r.lastSeq = m.Seq
	}
	if cap(r.ring) == 0 {
		return
	}
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, m)
		return
	}
	r.ring[r.ringAt] = m
	r.ringAt = (r.ringAt + 1) % len(r.ring)
}

// latest returns up to n messages of the ring, oldest first.
func (r *Room) latest(n int) []*Msg {
	all := append(slices.Clone(r.ring[r.ringAt:]), r.ring[:r.ringAt]...)
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return all
}

// forgetRoomLocked makes space for a new room: it forgets the room without
// members (nor joins waiting for it) whose latest message is the oldest,
// and with it that room's replay; its history stays in the backend. It
// reports false when every room has members. h.mu is held.
func (h *Hub) forgetRoomLocked() bool {
	var oldest *Room
	var at time.Time
	for _, r := range h.rooms {
		r.mu.Lock()
		idle := len(r.members) == 0 && len(r.waiting) == 0 && r.follow == followNone
		last := r.created
		if n := len(r.ring); n > 0 {
			last = r.ring[(r.ringAt+n-1)%n].Time
		}
		r.mu.Unlock()
		if idle && (oldest == nil || last.Before(at)) {
			oldest, at = r, last
		}
	}
	if oldest == nil {
		return false
	}
	delete(h.rooms, oldest.name)
	return true
}

// roomLocked returns the room called name, creating it. h.mu is held.
func (h *Hub) roomLocked(name string) *Room {
	r := h.rooms[name]
	if r == nil {
		r = &Room{name: name, created: h.o.Now(), ring: make([]*Msg, 0, h.o.Replay)}
		r.presence, _ = h.o.Backend.(Presence)
		h.rooms[name] = r
	}
	return r
}

// ValidRoom reports whether name (lower case, without IRC's '#') may name a
// room: 1 to 50 letters, digits and -_.+
func ValidRoom(name string) bool {
	if name == "" || len(name) > 50 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '+':
		default:
			return false
		}
	}
	return true
}

func roomNames(rooms []*Room) []string {
	names := make([]string, len(rooms))
	for i, r := range rooms {
		names[i] = r.name
	}
	return names
}

// SetTopic sets the topic of a room m is in and tells its members.
func (h *Hub) SetTopic(m *Member, name, topic string) error {
	if len(topic) > h.o.MaxMessage {
		return ErrTooLong
	}
	if err := CheckText(topic); err != nil {
		return err
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	r := h.rooms[name]
	if r == nil {
		return ErrBadRoom
	}
	if !slices.Contains(m.rooms, r) {
		return ErrNotIn
	}
	if err := h.mayTopicLocked(m, r); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.topic, r.topicBy, r.topicAt = topic, m.nick, h.o.Now()
	ev := &Msg{Kind: Topic, Room: r.name, Time: r.topicAt, Nick: m.nick, Ident: m.ident, Text: topic}
	var enc encodings
	for _, p := range r.members {
		p.out.Write(enc.get1(h, p.format.Load(), ev))
	}
	h.relayEvent(ev)
	return nil
}

// RoomInfo describes a room for listings.
type RoomInfo struct {
	Name    string
	Members int
	Topic   string
}

// Rooms lists the rooms that have members, by name; with a shared backend
// (a Presence), on every hub.
func (h *Hub) Rooms() []RoomInfo {
	var elsewhere map[string]int
	if p, ok := h.o.Backend.(Presence); ok {
		elsewhere = p.Counts()
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []RoomInfo
	for _, r := range h.rooms {
		if n := int(r.count.Load()) + elsewhere[r.name]; n > 0 {
			r.mu.Lock()
			out = append(out, RoomInfo{Name: r.name, Members: n, Topic: r.topic})
			r.mu.Unlock()
		}
	}
	for name, n := range elsewhere {
		if h.rooms[name] == nil && n > 0 && ValidRoom(name) {
			out = append(out, RoomInfo{Name: name, Members: n})
		}
	}
	slices.SortFunc(out, func(a, b RoomInfo) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// Members lists the nicks in a room, sorted, or nil if there is no such
// room.
func (h *Hub) Members(room string) []string {
	h.mu.RLock()
	r := h.rooms[room]
	h.mu.RUnlock()
	if r == nil {
		return nil
	}
	r.mu.Lock()
	nicks := r.Nicks()
	r.mu.Unlock()
	slices.Sort(nicks)
	return nicks
}

// NamesOf lists the nicks in room, sorted, with "@" before its operators
// and "+" before its voiced members, or nil if there is no such room. It
// takes h.mu and then the room's lock, so the nicks and their prefixes are
// of one moment.
func (h *Hub) NamesOf(room string) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r := h.rooms[room]
	if r == nil {
		return nil
	}
	r.mu.Lock()
	nicks := r.Nicks()
	r.mu.Unlock()
	slices.Sort(nicks)
	return h.prefixedLocked(room, nicks)
}

// RoomTopic is a room's topic, who set it and when.
type RoomTopic struct {
	Text string
	By   string
	At   time.Time
}

// TopicOf returns the topic of the room called room and how many members
// it has on this hub; ok is false if the hub has no such room. It takes
// h.mu and then the room's lock.
func (h *Hub) TopicOf(room string) (t RoomTopic, members int, ok bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r := h.rooms[room]
	if r == nil {
		return RoomTopic{}, 0, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return RoomTopic{r.topic, r.topicBy, r.topicAt}, len(r.members), true
}

// Listed is a member of this hub as a listing (IRC's WHO) shows it.
type Listed struct {
	Who
	Away   string
	Prefix string // "@" or "+" in the room listed, or ""
}

// WhoIn lists the members of room on this hub, with their prefixes in
// it, in the order they joined, and the nicks in it on other hubs (with a
// Presence backend), sorted. It takes h.mu and then the room's lock.
func (h *Hub) WhoIn(room string) (here []Listed, elsewhere []string) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r := h.rooms[room]
	if r == nil {
		return nil, nil
	}
	r.mu.Lock()
	for _, m := range r.members {
		here = append(here, Listed{Who{m.nick, m.ident, m.real}, m.away, h.prefixLocked(room, m.nick)})
	}
	if r.presence != nil {
		elsewhere = r.presence.Elsewhere(room)
	}
	r.mu.Unlock()
	slices.Sort(elsewhere)
	return here, elsewhere
}

// Prefix is "@" for an operator of room, "+" for a voiced member, else
// "". It takes h.mu.
func (h *Hub) Prefix(room, nick string) string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.prefixLocked(room, nick)
}
