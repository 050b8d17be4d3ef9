package chat

import (
	"context"
)

// This file is what the hub asks of its backend: a Backend orders and keeps
// messages, and backends shared by several hubs (a cluster) do more, each
// with an interface of its own that the hub looks for.

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
// a member's Quit and Rename (Rooms: the rooms it was in), a server
// operator's Wallops (to every hub), and what is for one nick (To set:
// private messages, Invite, Kill), to the hub that holds it. The other
// hubs get them through their deliver function; the hub shows them and
// keeps them out of the history, whatever their Seq (a backend may order
// joins and parts with the messages). A hub acts on a Kill it is relayed
// without asking more: the sending hub checked its operator, so a Relay
// must carry only what hubs of the cluster sent. Relay must not block; it
// fails with ErrNoSuchNick for a message To a nick no hub holds.
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
