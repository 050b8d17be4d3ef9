package natsbus

import (
	"context"
	"encoding/json"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/portside/portside/chat"
)

// Rooms' modes (operators, bans, flags, key, limit) are kept in a
// key-value bucket, one key a room, which every node watches: a node learns
// them all when it starts, and the others' changes as they are made. The
// MODE and KICK events that show a change go through the stream, in the
// room's order, and carry the room's modes after it too, so that a member
// who was shown a ban on any node is under it on every node that showed it.

// modesEntry is a room's modes in the bucket; Modes nil: forgotten.
type modesEntry struct {
	Origin string          `json:"o"`
	Room   string          `json:"r"`
	Modes  *chat.RoomModes `json:"m"`
}

var _ chat.ModeKeeper = (*Bus)(nil)

// KeepModes implements chat.ModeKeeper: a put to the modes bucket, which
// is a publish to its subject: asynchronous, in order with the node's
// other puts. While NATS is unreachable the put waits in the client's
// reconnect buffer.
func (b *Bus) KeepModes(room string, m *chat.RoomModes) {
	data, _ := json.Marshal(modesEntry{Origin: b.node, Room: room, Modes: m})
	if _, err := b.js.PublishAsync("$KV."+b.modes.Bucket()+"."+b64.EncodeToString([]byte(room)), data); err != nil {
		b.o.Logger.Warn("natsbus: room modes not shared", "room", room, "err", err)
	}
}

func (b *Bus) openModes(ctx context.Context) error {
	kv, err := b.bucket(ctx, "MODES", 0)
	if err != nil {
		return err
	}
	b.modes = kv
	b.modesW, err = newWatch(ctx, kv)
	return err
}

// watchModes hands the hub every room's modes at start, and the other
// nodes' changes after, until ctx is done: as Mode messages without a
// Nick, which the hub applies without showing.
func (b *Bus) watchModes(ctx context.Context) {
	b.modesW.run(ctx, func(e jetstream.KeyValueEntry) {
		if e.Operation() != jetstream.KeyValuePut {
			return
		}
		var me modesEntry
		if err := json.Unmarshal(e.Value(), &me); err != nil {
			b.o.Logger.Warn("natsbus: undecodable room modes", "err", err)
			return
		}
		if me.Origin == b.node || !chat.ValidRoom(me.Room) {
			return
		}
		if d := b.deliver.Load(); d != nil {
			(*d)([]*chat.Msg{{Kind: chat.Mode, Room: me.Room, Modes: me.Modes}})
		}
	})
}
