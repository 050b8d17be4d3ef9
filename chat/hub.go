// Package chat is a multi-room chat server with several front doors on one
// hub: a line protocol for nc and telnet, and IRC for real clients, on one
// port (the first line a client sends tells them apart). Members of a room
// see each other whichever door they came in by.
//
// The Hub keeps rooms, members and nicks in memory. Messages said in a room
// go through a Backend, which gives them their place in the room's order
// (a sequence number every member and the history agree on) and keeps them;
// the hub fans a message out only once the backend says it is durable. The
// local backend is package chat/store (SQLite); Memory keeps history in
// memory only.
//
// Handlers never block: the backend works on its own goroutines and the hub
// fans out from one, writing the same encoded bytes to every member that
// shares a format. When hubs share a backend (a cluster), a nick is claimed
// from the backend's NickRegistry, which may take a network round trip:
// Register and Rename then answer later, and the doors hold the client's
// further input until they do (Gate), so that it is handled in order while
// the engine's goroutine serves the other connections. They hold it the
// same way behind the client's own messages until those have reached their
// rooms (Sending): a client's commands take effect in the order it sent
// them, and a PONG never overtakes the message before it.
package chat

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of the hub and of backends.
var (
	ErrBusy       = errors.New("chat: server busy, message not sent")
	ErrClosed     = errors.New("chat: server shutting down")
	ErrNickInUse  = errors.New("chat: nickname in use")
	ErrBadNick    = errors.New("chat: erroneous nickname")
	ErrNoSuchNick = errors.New("chat: no such nick")
	ErrBadRoom    = errors.New("chat: no such room name")
	ErrRoomFull   = errors.New("chat: room is full")
	ErrTooMany    = errors.New("chat: in too many rooms")
	ErrNotIn      = errors.New("chat: not in that room")
	ErrTooLong    = errors.New("chat: message too long")
	// ErrTooManyRooms refuses a join that would create a room beyond
	// MaxTotalRooms when every room has members.
	ErrTooManyRooms = errors.New("chat: the server has as many rooms as it allows; join one that exists")
	// ErrNotKept is what a backend's Msg.Lost wraps: the history cannot
	// be written, so the message was neither kept nor shown to anyone.
	ErrNotKept = errors.New("chat: message not kept")
	// ErrPending says the answer is not at hand: it goes to the done
	// function given, later, from another goroutine (Register and Rename
	// while a nick is claimed from a NickRegistry, Join while a Follower
	// catches up with a room).
	ErrPending = errors.New("chat: pending")
	// ErrNotReady fails a join that waited JoinTimeout for the backend to
	// catch up with the room: the cluster is unreachable, or slow.
	ErrNotReady = errors.New("chat: room not reachable now, try again")
)

// Hub is the chat server's shared state: rooms, members and nicks. Its
// methods are safe for concurrent use and never block on I/O.
type Hub struct {
	o       Options
	started time.Time

	mu      sync.RWMutex
	nicks   map[string]*Member // by folded nick
	rooms   map[string]*Room   // by name
	formats []Encoder
	lineFmt Format
	ircFmt  [4]Format // by IRC capabilities: server-time, message-tags

	// Delivered messages wait here for the fan-out goroutine.
	fanMu   sync.Mutex
	fanQ    []*Msg
	fanWake chan struct{}

	loadOnce sync.Once
	loadErr  error

	pending atomic.Int64 // published, not yet delivered
	sendMu  sync.Mutex   // guards each Member's arrivedThen
	closed  atomic.Bool

	follower Follower // nil unless the backend reads only followed rooms
	relay    Relay    // nil unless the backend carries events to other hubs

	// modes are the rooms' modes (modes.go), by room name, guarded by mu;
	// keeper keeps them, if the backend can.
	modes  map[string]*modeState
	keeper ModeKeeper

	guard     *guard       // per-address connection cap and password waits
	newcomers newcomers    // connections not yet registered
	whowas    whowas       // nicks given up lately
	opers     atomic.Int64 // members who are server operators
	dummyOnce sync.Once    // dummyHash, made the first time it is needed
	dummyHash []byte       // what an unknown operator name's password is checked against
}

// New returns a Hub. Call Run to start it.
func New(o Options) *Hub {
	o = o.withDefaults()
	h := &Hub{
		o:       o,
		started: o.Now(),
		nicks:   make(map[string]*Member),
		rooms:   make(map[string]*Room),
		fanWake: make(chan struct{}, 1),
		modes:   make(map[string]*modeState),
	}
	h.keeper, _ = o.Backend.(ModeKeeper)
	h.guard = newGuard(&h.o)
	h.follower, _ = o.Backend.(Follower)
	h.relay, _ = o.Backend.(Relay)
	h.addDoors()
	return h
}

// Options returns the options in force, defaults filled in.
func (h *Hub) Options() Options { return h.o }

// Run loads recent history, then runs the backend and fans out what it
// delivers, until ctx is done and the backend has delivered what it owes.
// Members are pinged and idle ones disconnected, and connections that have
// not logged in in time closed, once every tick (Sweep), on a ticker of the
// real clock.
//
// That is one ticker for all members, not a timer per connection, on
// purpose: these deadlines belong to the hub's view of a member (its last
// word, its last pong, whether its nick is registered), across doors,
// and a sweep a quarter of the shortest timeout keeps the message path free
// of any timer work, where per-connection timers (server.Conn.SetTimer)
// would be re-armed on every line a member sends. The connection's own
// timer is for waits of one connection's door: the greeting, a password's
// turn.
func (h *Hub) Run(ctx context.Context) error {
	if err := h.Load(); err != nil {
		return err
	}
	done := make(chan struct{})
	fanDone := make(chan struct{})
	go func() {
		defer close(fanDone)
		h.fanout(done)
	}()
	tick := time.NewTicker(h.o.sweepEvery())
	go func() {
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				h.Sweep()
			case <-done:
				return
			}
		}
	}()
	err := h.o.Backend.Run(ctx, h.deliver)
	h.closed.Store(true)
	close(done)
	<-fanDone
	return err
}

// Load fills the rooms' replay rings from a backend that keeps history
// (a Loader). It blocks on the backend's reads; call it before serving, or
// let Run call it. It loads once.
func (h *Hub) Load() error {
	h.loadOnce.Do(func() { h.loadErr = h.load() })
	return h.loadErr
}

func (h *Hub) load() error {
	h.mu.Lock()
	err := h.loadModesLocked()
	h.mu.Unlock()
	if err != nil {
		return err
	}
	l, ok := h.o.Backend.(Loader)
	if !ok || h.o.Replay == 0 {
		return nil
	}
	msgs, err := l.Latest(h.o.Replay)
	if err != nil {
		return err
	}
	// At most MaxTotalRooms rooms: those spoken in last.
	last := make(map[string]time.Time)
	for _, m := range msgs {
		if m.Time.After(last[m.Room]) {
			last[m.Room] = m.Time
		}
	}
	if len(last) > h.o.MaxTotalRooms {
		rooms := slices.Collect(maps.Keys(last))
		slices.SortFunc(rooms, func(a, b string) int { return last[b].Compare(last[a]) })
		for _, name := range rooms[h.o.MaxTotalRooms:] {
			delete(last, name)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range msgs {
		if _, ok := last[m.Room]; ok {
			h.roomLocked(m.Room).push(m)
		}
	}
	return nil
}

// Counts reports members and rooms with members.
func (h *Hub) Counts() (members, rooms int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, r := range h.rooms {
		if r.count.Load() > 0 {
			rooms++
		}
	}
	return len(h.nicks), rooms
}

// Sweep pings members that have been silent for PingInterval and
// disconnects those silent for twice that (IRC) or for IdleTimeout (doors
// whose clients cannot be pinged). It closes connections that have not
// registered within RegisterTimeout, and forgets the wrong passwords of
// addresses that have been quiet long enough. Run calls it on a ticker;
// tests call it with a pinned clock.
func (h *Hub) Sweep() {
	now := h.o.Now().UnixNano()
	h.closeLate(now)
	h.guard.sweep(now)
	ping := int64(h.o.PingInterval)
	idle := int64(h.o.IdleTimeout)
	type action struct {
		m      *Member
		reason string
	}
	var acts []action
	h.mu.RLock()
	for _, m := range h.nicks {
		silent := now - m.lastIn.Load()
		switch {
		case !m.pingable:
			if silent >= idle {
				acts = append(acts, action{m, "idle timeout"})
			}
		case silent >= 2*ping && m.pinged.Load():
			acts = append(acts, action{m, "ping timeout: " + time.Duration(silent).Round(time.Second).String()})
		case silent >= ping && !m.pinged.Load():
			acts = append(acts, action{m, ""})
		}
	}
	h.mu.RUnlock()
	for _, a := range acts {
		switch {
		case a.reason != "":
			h.Disconnect(a.m, a.reason)
		default:
			a.m.pinged.Store(true)
			a.m.door.Ping(a.m)
		}
	}
}
