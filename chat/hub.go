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
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portside/portside/proto/irc"
)

// Kind is what a Msg is.
type Kind uint8

// Kinds of Msg. Say, Action and Notice are messages, ordered and kept by the
// backend; the others are room events, fanned out at once and never kept.
const (
	Say    Kind = iota + 1 // text
	Action                 // "/me waves": IRC's CTCP ACTION
	Notice                 // IRC's NOTICE: text no client answers automatically
	Join
	Part   // Text: the reason
	Quit   // Text: the reason
	Rename // Text: the new nick
	Topic  // Text: the new topic
	Kick   // Target: who was kicked; Text: the reason
	Mode   // Text: the change, as IRC writes it ("+o ana"); Modes: the room's modes after it
	Invite // To: who is invited to Room
)

// Kept reports whether k is a message the backend orders and keeps.
func (k Kind) Kept() bool { return k >= Say && k <= Notice }

// Msg is one thing said or done in a room, or sent to one member. A Msg is
// not changed once handed to Backend.Publish and delivered, so the hub and
// the backend share it freely.
type Msg struct {
	Room  string // the room's name (lower case); "" for a private message
	Seq   uint64 // position in the room's order, from 1; set by the backend; 0 for events
	Time  time.Time
	Kind  Kind
	Nick  string // who said or did it
	Ident string // their user@host, for IRC sources; not kept in history
	To    string // for a private message: the recipient's nick
	Text  string
	// Rooms are, for a Quit or Rename relayed from another hub, the rooms
	// its member was in: the members of this hub who share one are told.
	Rooms []string
	// Target is who a Kick took out of the room.
	Target string
	// Modes is, for a Mode or Kick, the room's modes after it, for the
	// other hubs (modes.go).
	Modes *RoomModes
	// Lost is set by a backend that could not keep the message (its
	// history cannot be written: disk full, I/O error). Such a message is
	// delivered with Seq 0, shown to no one, and its sender is told it was
	// neither kept nor delivered. It wraps ErrNotKept.
	Lost error

	from *Member // the sender, who is not sent their own message
	room *Room

	caught *caughtUpMark // set on a mark in the fan-out queue, not a message
}

// caughtUpMark is a Follower's answer in the fan-out queue: the room's
// history up to here, and which follow it ends.
type caughtUpMark struct {
	history []*Msg
	gen     uint64
}

// Backend orders and keeps the messages said in rooms. The local backend is
// a sequence per room and SQLite (package chat/store); a cluster backend can
// put a shared stream in its place.
type Backend interface {
	// Publish hands m over to be ordered and kept. It never blocks; it
	// fails with ErrBusy when too much waits to be written, and ErrClosed
	// once Run has returned. The backend sets m.Seq, and once m is durable
	// passes it to the deliver function given to Run, in order within each
	// room. A message the backend cannot keep is passed to deliver too,
	// with Lost set and Seq 0: the backend stays up and tries again with
	// the next message, rather than stop the server. deliver is safe to
	// call from several goroutines, but a room's messages come from one at
	// a time.
	Publish(m *Msg) error
	// History calls reply with up to n kept messages of room, oldest
	// first: the latest ones if before is 0, else those with Seq < before.
	// reply runs on a goroutine of the backend's, or before History
	// returns if the answer is at hand; it must not block.
	History(room string, before uint64, n int, reply func([]*Msg, error))
	// Run orders, keeps and delivers until ctx is done, then delivers
	// what was published before and returns.
	Run(ctx context.Context, deliver func([]*Msg)) error
}

// Loader is implemented by backends that keep history across restarts: at
// start the hub loads each room's latest messages, to replay them to those
// who join.
type Loader interface {
	Latest(perRoom int) ([]*Msg, error)
}

// NickRegistry is implemented by backends shared by several hubs, which
// must agree on who holds a nick. The hub claims a nick before it gives it
// to a member, and releases it when the member quits or renames. ClaimNick
// must not block: it answers through done, called once from another
// goroutine (the answer may take a network round trip), with nil when the
// nick is this hub's, ErrNickInUse when another holds it, or another error
// when the registry cannot tell. ReleaseNick must not block.
type NickRegistry interface {
	ClaimNick(w Who, done func(error))
	ReleaseNick(nick string)
}

// Who is a member as other hubs see it.
type Who struct {
	Nick  string
	Ident string // user@host
	Real  string // IRC's real name
}

// Directory is implemented by backends shared by several hubs, to tell of
// a member of another hub: who it is and the rooms it is in, from what the
// backend knows at hand. Lookup must not block.
type Directory interface {
	Lookup(nick string) (w Who, rooms []string, ok bool)
}

// Follower is implemented by backends shared by several hubs that read only
// the rooms a hub has members in. The hub calls Follow when a room gets its
// first member and Unfollow when its last leaves; neither may block. After
// Follow the backend calls caughtUp once, with the messages it keeps of the
// room (oldest first; the hub takes those it has not seen), after the
// room's messages delivered before and before any delivered after: from
// then on the hub has the room's news. A member's Join of a room not yet
// caught up completes then (ErrPending).
type Follower interface {
	Follow(room string, caughtUp func(history []*Msg))
	Unfollow(room string)
}

// Relay is implemented by backends shared by several hubs, to carry to the
// other hubs what is not kept: room events (Join, Part, Topic; Room set),
// a member's Quit and Rename (Rooms: the rooms it was in) and private
// messages (To set). The other hubs get them through their deliver
// function; the hub shows them and keeps them out of the history, whatever
// their Seq (a backend may order joins and parts with the messages). Relay
// must not block; it fails with ErrNoSuchNick for a private message to a
// nick no hub holds.
type Relay interface {
	Relay(m *Msg) error
}

// Presence is implemented by backends shared by several hubs, to tell who
// is in a room on the others. The hub reports its members' joins and parts;
// Elsewhere returns the nicks in room on other hubs, from what the backend
// knows at hand. None of them may block.
type Presence interface {
	Joined(room, nick string)
	Parted(room, nick string)
	Elsewhere(room string) []string
	// Counts returns how many are in each room on other hubs.
	Counts() map[string]int
}

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

// Options configure a Hub. Zero values take the defaults noted.
type Options struct {
	Backend    Backend          // nil: NewMemory(1000)
	Now        func() time.Time // nil: time.Now; tests pin it
	Logger     *slog.Logger     // nil discards
	Stats      *Stats           // nil: counted into a private Stats
	ServerName string           // IRC server name; default "portside"
	Password   string           // asked for by IRC's PASS and the line login; "" for none
	MOTD       []string         // IRC message of the day, one entry a line
	// DefaultRoom is joined by line-protocol users once they have a name;
	// default "lobby", "-" for none.
	DefaultRoom string

	MaxRoomMembers int // members of one room; default 10,000
	MaxRooms       int // rooms one member may be in; default 20
	MaxMessage     int // bytes of text in one message; default 400
	Replay         int // messages replayed on join; default 20, negative none
	MaxHistory     int // most messages /history returns; default 1,000
	MaxPending     int // messages waiting for the backend before ErrBusy; default 100,000

	// MaxTotalRooms bounds the rooms the hub holds, with members or with
	// a replay of recent messages; default 1,000. Creating one more first
	// forgets the replay of the room without members quiet the longest
	// (its history stays in the backend); with none to forget, the join is
	// refused (ErrTooManyRooms).
	MaxTotalRooms int

	// FloodRate and FloodBurst are each client's token bucket: lines per
	// second and the burst allowed. FloodRate 0 takes the defaults (5 per
	// second, burst 20); negative turns flood control off.
	FloodRate  float64
	FloodBurst int

	// PingInterval: an IRC client silent this long is sent a PING, and
	// disconnected if still silent after as long again. Default 2 min.
	PingInterval time.Duration
	// IdleTimeout disconnects a line-protocol user who typed nothing this
	// long. Default 30 min.
	IdleTimeout time.Duration
	// GreetDelay: a new connection that says nothing this long is taken to
	// be a person, and asked for a name; IRC clients speak first. Default
	// 300 ms; negative asks at once.
	GreetDelay time.Duration
	// RegisterTimeout closes a connection that has not logged in (given
	// its nick, and the password if one is set) this long after it
	// opened; it is told why. Default 60 s; negative: no limit.
	RegisterTimeout time.Duration
	// MaxConnsPerIP bounds the connections open at once from one address
	// (an IPv4 address, or an IPv6 /64), over all doors; the next is
	// refused with ErrTooManyConns. Default 16; negative: no limit.
	// Loopback addresses are not limited unless LimitLoopback.
	MaxConnsPerIP int
	LimitLoopback bool // hold loopback addresses to MaxConnsPerIP too
	// PasswordDelay is how long an address waits before its next
	// password is checked after a wrong one; the wait doubles with each
	// further wrong one, up to PasswordDelayMax. Default 1 s (and 30 s);
	// negative: no wait.
	PasswordDelay    time.Duration
	PasswordDelayMax time.Duration
	// Opers are the server operators: a name, and the bcrypt hash of its
	// password (as `portside chat passwd` makes). IRC's OPER (the line
	// door's /oper) with a name and its password makes a member one; see
	// Hub.Oper.
	Opers map[string]string
	// JoinTimeout bounds how long a join waits for a shared backend to
	// catch up with a room (see Follower) before it fails with
	// ErrNotReady. Default 10 s.
	JoinTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Stats == nil {
		o.Stats = new(Stats)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ServerName == "" {
		o.ServerName = "portside"
	}
	if o.DefaultRoom == "" {
		o.DefaultRoom = "lobby"
	}
	if o.DefaultRoom == "-" {
		o.DefaultRoom = ""
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.MaxRoomMembers, 10000)
	def(&o.MaxRooms, 20)
	def(&o.MaxTotalRooms, 1000)
	def(&o.MaxMessage, 400)
	def(&o.Replay, 20)
	def(&o.MaxHistory, 1000)
	def(&o.MaxPending, 100000)
	if o.Replay < 0 {
		o.Replay = 0
	}
	if o.FloodRate == 0 {
		o.FloodRate = 5
	}
	if o.FloodBurst <= 0 {
		o.FloodBurst = 20
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 2 * time.Minute
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Minute
	}
	if o.GreetDelay == 0 {
		o.GreetDelay = 300 * time.Millisecond
	}
	if o.JoinTimeout <= 0 {
		o.JoinTimeout = 10 * time.Second
	}
	if o.RegisterTimeout == 0 {
		o.RegisterTimeout = time.Minute
	}
	if o.MaxConnsPerIP == 0 {
		o.MaxConnsPerIP = 16
	}
	if o.PasswordDelay == 0 {
		o.PasswordDelay = time.Second
	}
	if o.PasswordDelayMax <= 0 {
		o.PasswordDelayMax = 30 * time.Second
	}
	o.PasswordDelayMax = max(o.PasswordDelayMax, o.PasswordDelay)
	if o.Backend == nil {
		o.Backend = NewMemory(1000)
	}
	return o
}

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

// Encoder appends m to dst in one door's wire format. replay says m is
// history, replayed on join or asked for, rather than news. An encoding must
// not depend on who receives it: that is what lets one serve a whole room.
type Encoder func(dst []byte, m *Msg, replay bool) []byte

// Format names an Encoder registered with AddFormat. Each member has one,
// and the hub encodes a message once per format in use.
type Format uint8

const maxFormats = 16

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

// AddFormat registers a wire format for a door. It must be called before
// Run; at most 16 formats exist.
func (h *Hub) AddFormat(e Encoder) Format {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.formats) == maxFormats {
		panic("chat: too many formats")
	}
	h.formats = append(h.formats, e)
	return Format(len(h.formats) - 1)
}

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

// deliver is the backend's hand-over: messages are durable and ordered.
// Those from other hubs must keep the text rules too (text.go).
func (h *Hub) deliver(batch []*Msg) {
	n := len(batch)
	batch = dropInvalid(h.o.Logger, batch)
	h.o.Stats.DroppedInvalid.Add(int64(n - len(batch)))
	if len(batch) == 0 {
		return
	}
	h.fanMu.Lock()
	h.fanQ = append(h.fanQ, batch...)
	h.fanMu.Unlock()
	select {
	case h.fanWake <- struct{}{}:
	default:
	}
}

// fanout sends delivered messages to the members of their rooms, until
// done is closed and nothing is left. The messages of one room that arrive
// together go out as one run: encoded once per format and written to each
// member with one Write, so a busy room costs a write per member per
// batch, not per message.
func (h *Hub) fanout(done <-chan struct{}) {
	var q []*Msg
	var enc encodings
	var one []byte
	runs := make(map[*Room][]*Msg)
	var order []*Room
	var round uint64
	for {
		h.fanMu.Lock()
		q, h.fanQ = h.fanQ, q[:0]
		h.fanMu.Unlock()
		if len(q) == 0 {
			select {
			case <-h.fanWake:
				continue
			case <-done:
				h.fanMu.Lock()
				n := len(h.fanQ)
				h.fanMu.Unlock()
				if n == 0 {
					return
				}
				continue
			}
		}
		// Only this hub's own messages count as pending: a shared backend
		// also delivers what other hubs published.
		var own int64
		for _, m := range q {
			if m.from != nil {
				own++
			}
		}
		h.pending.Add(-own)
		flush := func() {
			for _, r := range order {
				h.sendRun(r, runs[r], &enc, &one, &round)
			}
			clear(runs)
			order = order[:0]
		}
		for _, m := range q {
			switch {
			case m.caught != nil:
				flush()
				h.caughtUp(m)
			case m.Lost != nil:
				flush()
				h.notKept(m)
			case m.Kind.Kept() && m.To == "":
				r := m.room
				if r == nil {
					h.mu.Lock()
					r = h.roomLocked(m.Room)
					h.mu.Unlock()
				}
				if _, ok := runs[r]; !ok {
					order = append(order, r)
				}
				runs[r] = append(runs[r], m)
			default:
				flush()
				h.remote(m)
			}
		}
		flush()
		// Now that their messages are with the members, the senders'
		// doors may go on with what the clients sent next.
		for _, m := range q {
			if m.from != nil && m.caught == nil {
				h.arrived(m.from)
			}
		}
		clear(q)
	}
}

// notKept tells the sender of a message the backend could not keep that
// it was neither kept nor shown to anyone. Another hub's message is its
// own hub's to report.
func (h *Hub) notKept(m *Msg) {
	from := m.from
	if from == nil {
		return
	}
	h.o.Stats.DroppedNotKept.Add(1)
	why := strings.TrimPrefix(strings.TrimPrefix(m.Lost.Error(), ErrNotKept.Error()), ": ")
	if why == "" {
		why = "history cannot be written"
	}
	h.mu.RLock()
	nick := from.nick
	h.mu.RUnlock()
	n := &Msg{Kind: Notice, Time: h.o.Now(), Nick: h.o.ServerName, To: nick,
		Text: "Your message to " + m.Room + " was not kept and not delivered: " + why + ". Try again later."}
	from.out.Write(h.formats[from.format.Load()](nil, n, false))
}

// sendRun sends one room's run of messages to its members: encoded once per
// format, one Write per member.
func (h *Hub) sendRun(r *Room, run []*Msg, enc *encodings, one *[]byte, round *uint64) {
	*round++
	for _, m := range run {
		if m.from != nil {
			m.from.mark = *round
		}
	}
	enc.reset()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range run {
		r.push(m)
	}
	h.o.Stats.Messages.Add(int64(len(run)))
	var deliveries int64
	defer func() { h.o.Stats.Deliveries.Add(deliveries) }()
	for _, mem := range r.members {
		f := mem.format.Load()
		if mem.mark != *round {
			mem.out.Write(enc.get(h, f, run))
			deliveries += int64(len(run))
			continue
		}
		// A sender is not sent its own messages.
		b := (*one)[:0]
		for _, m := range run {
			if m.from != mem {
				b = h.formats[f](b, m, false)
				deliveries++
			}
		}
		mem.out.Write(b)
		*one = b
	}
}

// remote shows what another hub relayed: a room event, a quit or rename,
// or a private message.
func (h *Hub) remote(ev *Msg) {
	if h.remoteModes(ev) {
		return
	}
	if ev.Kind == Topic {
		// The room keeps the topic for whoever joins later.
		h.mu.Lock()
		h.roomLocked(ev.Room)
		h.mu.Unlock()
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	var enc encodings
	switch {
	case ev.To != "":
		if t := h.nicks[foldNick(ev.To)]; t != nil {
			t.out.Write(enc.get1(h, t.format.Load(), ev))
		}
	case ev.Kind == Quit || ev.Kind == Rename:
		var rooms []*Room
		for _, name := range ev.Rooms {
			if r := h.rooms[name]; r != nil {
				rooms = append(rooms, r)
			}
		}
		h.toMembersLocked(rooms, ev, &enc, map[*Member]bool{})
	default:
		r := h.rooms[ev.Room]
		if r == nil {
			return
		}
		r.mu.Lock()
		if ev.Kind == Topic {
			r.topic, r.topicBy, r.topicAt = ev.Text, ev.Nick, ev.Time
		}
		for _, p := range r.members {
			p.out.Write(enc.get1(h, p.format.Load(), ev))
		}
		r.mu.Unlock()
	}
}

// encodings caches the encoding of some messages per format during a
// fan-out. Its buffer is reused from one fan-out to the next: Conn.Write
// copies.
type encodings struct {
	buf  []byte
	have [maxFormats]bool
	at   [maxFormats][2]int32
}

func (e *encodings) reset() {
	e.buf = e.buf[:0]
	e.have = [maxFormats]bool{}
}

// get returns msgs encoded in format f, one after the other.
func (e *encodings) get(h *Hub, f uint32, msgs []*Msg) []byte {
	if !e.have[f] {
		start := len(e.buf)
		for _, m := range msgs {
			e.buf = h.formats[f](e.buf, m, false)
		}
		e.at[f] = [2]int32{int32(start), int32(len(e.buf))}
		e.have[f] = true
	}
	return e.buf[e.at[f][0]:e.at[f][1]]
}

// get1 is get for one message, an event.
func (e *encodings) get1(h *Hub, f uint32, m *Msg) []byte {
	return e.get(h, f, []*Msg{m})
}

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

// joinReq is a Join waiting for its room to catch up.
type joinReq struct {
	m      *Member
	leave  string // a room to leave first, if m is in it
	key    string
	joined func(*Room)
	done   func(error)
}

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
	ev := &Msg{Kind: Rename, Time: h.o.Now(), Nick: m.nick, Ident: m.ident, Text: nick}
	h.toPeersLocked(m, ev, true)
	if h.relay != nil && len(m.rooms) > 0 {
		ev.Rooms = roomNames(m.rooms)
		h.relay.Relay(ev)
	}
	h.renameModesLocked(m, nick)
	delete(h.nicks, foldNick(m.nick))
	h.gaveUpLocked(m)
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

func roomNames(rooms []*Room) []string {
	names := make([]string, len(rooms))
	for i, r := range rooms {
		names[i] = r.name
	}
	return names
}

// toPeersLocked sends ev once to each member sharing a room with m, and to
// m itself if self. h.mu is held.
func (h *Hub) toPeersLocked(m *Member, ev *Msg, self bool) {
	var enc encodings
	if self {
		m.out.Write(enc.get1(h, m.format.Load(), ev))
	}
	h.toMembersLocked(m.rooms, ev, &enc, map[*Member]bool{m: true})
}

// toMembersLocked sends ev once to each member of rooms not in seen.
// h.mu is held.
func (h *Hub) toMembersLocked(rooms []*Room, ev *Msg, enc *encodings, seen map[*Member]bool) {
	for _, r := range rooms {
		r.mu.Lock()
		for _, p := range r.members {
			if !seen[p] {
				seen[p] = true
				p.out.Write(enc.get1(h, p.format.Load(), ev))
			}
		}
		r.mu.Unlock()
	}
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

// relayEvent hands ev to the backend for the other hubs, if it carries
// events.
func (h *Hub) relayEvent(ev *Msg) {
	if h.relay != nil {
		h.relay.Relay(ev)
	}
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
	h.quitLocked(m)
	if reg, ok := h.o.Backend.(NickRegistry); ok {
		reg.ReleaseNick(m.nick)
	}
}

// Say publishes a message of m's in the room called name. The message is
// shown to the room's other members once the backend has kept it; m is not
// sent its own message. Text breaking the text rules is ErrBadText.
func (h *Hub) Say(m *Member, name string, kind Kind, text string) error {
	if len(text) > h.o.MaxMessage {
		return ErrTooLong
	}
	if err := CheckText(text); err != nil {
		return err
	}
	h.mu.RLock()
	var r *Room
	for _, mr := range m.rooms {
		if mr.name == name {
			r = mr
		}
	}
	in := r != nil
	if r == nil {
		r = h.rooms[name]
	}
	err := ErrNotIn
	if r != nil {
		err = h.maySayLocked(m, r, in)
	}
	h.mu.RUnlock()
	if err != nil {
		return err
	}
	if h.pending.Load() >= int64(h.o.MaxPending) {
		h.o.Stats.DroppedBusy.Add(1)
		return ErrBusy
	}
	msg := &Msg{Room: name, Time: h.o.Now(), Kind: kind, Nick: m.nick, Ident: m.ident, Text: text, from: m, room: r}
	h.pending.Add(1)
	m.sending.Add(1)
	m.sendingTo = r
	if err := h.o.Backend.Publish(msg); err != nil {
		h.pending.Add(-1)
		h.arrived(m)
		return err
	}
	return nil
}

// Sending keeps a client's commands in the order it sent them. A message
// Say accepted is on its way until the backend has kept it and the fan-out
// has handed it to its room's members; a door must not act on what the
// client sent after it (answer a PING, part the room, tell someone
// privately) before then. Sending reports whether m has messages on their
// way that the next command must wait for: any, or with room set (the next
// command is a message to room) those to another room, since a backend
// orders messages within a room but a cluster's rooms may reach a member
// by different paths. If so, then is called once they have all arrived
// (or were refused as not kept), from another goroutine; the door holds
// the client's input meanwhile (Gate.HoldBrief, with then calling
// Gate.Resume). A run of messages to one room thus goes out without a
// wait. Call it from the door's input handling only.
func (h *Hub) Sending(m *Member, room string, then func()) bool {
	// Only the door's own calls (Say) add to m.sending: none on their
	// way now means none until the door says something.
	if m.sending.Load() == 0 || (room != "" && room == m.sendingTo.name) {
		return false
	}
	h.sendMu.Lock()
	defer h.sendMu.Unlock()
	if m.sending.Load() == 0 {
		return false
	}
	m.arrivedThen = then
	return true
}

// arrived counts one of m's messages off as delivered (or refused), and
// calls the door back if that was the last it waited for.
func (h *Hub) arrived(m *Member) {
	h.sendMu.Lock()
	var then func()
	if m.sending.Add(-1) == 0 {
		then, m.arrivedThen = m.arrivedThen, nil
	}
	h.sendMu.Unlock()
	if then != nil {
		// Not on the fan-out goroutine: the door goes on with the
		// client's input, which must not hold up other rooms' news.
		go then()
	}
}

// Tell sends a private message from m to the member called to, at once and
// without keeping it, and returns the recipient's away message, if any.
func (h *Hub) Tell(m *Member, to string, kind Kind, text string) (away string, err error) {
	if len(text) > h.o.MaxMessage {
		return "", ErrTooLong
	}
	if err := CheckText(text); err != nil {
		return "", err
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	t := h.nicks[foldNick(to)]
	if t == nil && h.relay != nil {
		// Perhaps on another hub.
		return "", h.relay.Relay(&Msg{Time: h.o.Now(), Kind: kind, Nick: m.nick, Ident: m.ident, To: to, Text: text})
	}
	if t == nil {
		return "", ErrNoSuchNick
	}
	msg := &Msg{Time: h.o.Now(), Kind: kind, Nick: m.nick, Ident: m.ident, To: t.nick, Text: text}
	t.out.Write(h.formats[t.format.Load()](nil, msg, false))
	return t.away, nil
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

// Disconnect closes m's connection for reason, through its door, once.
func (h *Hub) Disconnect(m *Member, reason string) {
	if m.gone.CompareAndSwap(nil, &reason) {
		h.o.Logger.Info("chat disconnect", "nick", m.nick, "reason", reason)
		m.door.Kick(m, reason)
	}
}

// Allow applies flood control to a line or request m's client sent: ok
// says to handle it, flooding that the client kept sending through a whole
// burst of dropped ones and should be disconnected. For doors outside this
// package; call it from the door's input handling only.
func (h *Hub) Allow(m *Member) (ok, flooding bool) {
	if m.bucket.allow(&h.o, h.o.Now()) {
		return true, false
	}
	return false, m.bucket.flooding(&h.o)
}

// bucket is a token bucket: flood control.
type bucket struct {
	tokens  float64
	last    int64 // unix nanoseconds
	dropped int32 // lines dropped in a row
}

// allow takes a token if there is one.
func (b *bucket) allow(o *Options, now time.Time) bool {
	if o.FloodRate < 0 {
		return true
	}
	t := now.UnixNano()
	if b.last == 0 {
		b.tokens = float64(o.FloodBurst)
	} else {
		b.tokens = min(float64(o.FloodBurst), b.tokens+float64(t-b.last)/1e9*o.FloodRate)
	}
	b.last = t
	if b.tokens >= 1 {
		b.tokens--
		b.dropped = 0
		return true
	}
	b.dropped++
	o.Stats.DroppedFlood.Add(1)
	return false
}

// flooding reports whether the client kept sending through a whole burst of
// dropped lines, and should be disconnected.
func (b *bucket) flooding(o *Options) bool { return int(b.dropped) > o.FloodBurst }
