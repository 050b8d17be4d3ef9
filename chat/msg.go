package chat

import (
	"time"
)

// This file is what goes through the hub: a Msg, said in a room, sent to
// one member, or a room event.

// Kind is what a Msg is.
type Kind uint8

// Kinds of Msg. Say, Action and Notice are messages, ordered and kept by the
// backend; the others are events, fanned out at once and never kept.
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
	// Kill is a server operator's (Nick) KILL of a member of another hub
	// (To), for the reason Text: the hub holding To disconnects it.
	Kill
	// Wallops is a server operator's (Nick) WALLOPS, Text: every hub
	// shows it to its own operators and members who asked for it.
	Wallops
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
