package chat

import (
	"log/slog"
	"time"
)

// This file is the hub's options and their defaults.

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
