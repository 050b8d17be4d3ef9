package chat

import (
	"slices"
	"sync/atomic"
	"time"
)

// This file is a member, one client whichever door it came by, and what
// the hub asks of its door.

// Member is one client in the hub, whichever door it came by. The door that
// owns it changes its fields only through the hub's methods.
type Member struct {
	out      Sink
	door     Door
	format   atomic.Uint32
	pingable bool // the door can ask the client to answer (IRC's PING)
	quit     bool // Quit was called; guarded by hub.mu
	// Messages Say accepted that the fan-out has not yet handed to
	// their rooms' members.
	sending atomic.Int32

	// Guarded by hub.mu for writing; the owning door may read them
	// without it, since they change only in its own calls, or in the
	// completion of a nick claim, which the door waits for (see Gate).
	// Except rooms, which an operator's kick changes too: read it under
	// hub.mu.
	nick  string
	ident string // user@host
	real  string
	away  string
	rooms []*Room
	since time.Time

	mark uint64 // the fan-out's: this member sent a message of the run being sent

	// The room of the latest message Say accepted, written by the
	// door's calls only, and the door's callback waiting for m.sending
	// to come down to 0 (see Sending), guarded by hub.sendMu.
	sendingTo   *Room
	arrivedThen func()

	lastIn atomic.Int64 // unix nanoseconds of the last input
	pinged atomic.Bool
	gone   atomic.Pointer[string] // why the hub disconnected it

	oper    atomic.Bool // a server operator: see Hub.IsOper
	wallops atomic.Bool // user mode +w: sent WALLOPS

	bucket bucket
}

// Sink is where a member's output goes: a server.Conn, or a door's framing
// around one.
type Sink interface {
	Write(b []byte) error
	Close() error
}

// Door is what the hub asks of the front door a member came in by. The hub
// calls it from its own goroutines.
type Door interface {
	// Ping asks the client to answer. It is only called for members made
	// pingable; the others are disconnected when idle.
	Ping(m *Member)
	// Kick tells the client why it is disconnected, then closes it; the
	// door's Handler.Close then calls Quit.
	Kick(m *Member, reason string)
}

// Nick returns the member's nickname.
func (m *Member) Nick() string { return m.nick }

// source is the member's IRC source, nick!user@host.
func (m *Member) source() string { return m.nick + "!" + m.ident }

// NewMember makes the hub's record of a client of door d, whose output goes
// to out in format f. It is not in the hub until Register, and is
// disconnected if it has not registered within RegisterTimeout. A pingable
// member is pinged when silent; the others are disconnected when idle.
func (h *Hub) NewMember(out Sink, d Door, f Format, pingable bool) *Member {
	m := &Member{out: out, door: d, pingable: pingable}
	m.format.Store(uint32(f))
	now := h.o.Now()
	m.touch(now)
	h.arrive(m, now.UnixNano())
	return m
}

// Touch records that m's client said something: it is not idle.
func (h *Hub) Touch(m *Member) { m.touch(h.o.Now()) }

func (m *Member) touch(now time.Time) {
	m.lastIn.Store(now.UnixNano())
	m.pinged.Store(false)
}

// SetFormat changes the wire format m's output is encoded in, as when an
// IRC client negotiates capabilities.
func (m *Member) SetFormat(f Format) { m.format.Store(uint32(f)) }

// SetAway sets m's away message ("" for none), which those who message m
// are shown. Text breaking the text rules is ErrBadText.
func (h *Hub) SetAway(m *Member, text string) error {
	if err := CheckText(text); err != nil {
		return err
	}
	h.mu.Lock()
	m.away = text
	h.mu.Unlock()
	return nil
}

// Disconnect closes m's connection for reason, through its door, once.
func (h *Hub) Disconnect(m *Member, reason string) {
	if m.gone.CompareAndSwap(nil, &reason) {
		h.o.Logger.Info("chat disconnect", "nick", m.nick, "reason", reason)
		m.door.Kick(m, reason)
	}
}

// RoomNames returns the names of the rooms m is in, in the order it
// joined them. It takes h.mu: an operator's kick changes m's rooms too, so
// a door reads them through here.
func (h *Hub) RoomNames(m *Member) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return roomNames(m.rooms)
}

// InRoom reports whether m is in the room called room. It takes h.mu, as
// RoomNames does.
func (h *Hub) InRoom(m *Member, room string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return slices.ContainsFunc(m.rooms, func(r *Room) bool { return r.name == room })
}
