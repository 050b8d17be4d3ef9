package natsbus

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/portside/portside/chat"
)

// event is what the nodes tell each other beyond the stream: a quit or
// rename with the rooms it concerns, a private message, an invitation, a
// topic, a server operator's kill or wallops.
type event struct {
	Origin string   `json:"o"` // the node it comes from
	Time   int64    `json:"t"` // unix milliseconds
	Kind   uint8    `json:"k"`
	Room   string   `json:"r,omitempty"`
	Rooms  []string `json:"rs,omitempty"`
	Nick   string   `json:"n"`
	Ident  string   `json:"i,omitempty"`
	To     string   `json:"to,omitempty"`
	Text   string   `json:"x,omitempty"`
}

func (b *Bus) encodeEvent(m *chat.Msg) []byte {
	data, _ := json.Marshal(event{
		Origin: b.node, Time: m.Time.UnixMilli(), Kind: uint8(m.Kind), Room: m.Room, Rooms: m.Rooms,
		Nick: m.Nick, Ident: m.Ident, To: m.To, Text: m.Text,
	})
	return data
}

// decodeEvent returns the Msg of an event from another node, or nil.
func (b *Bus) decodeEvent(data []byte) *chat.Msg {
	var e event
	if err := json.Unmarshal(data, &e); err != nil {
		b.o.Logger.Warn("natsbus: undecodable event", "err", err)
		return nil
	}
	if e.Origin == b.node {
		return nil
	}
	return &chat.Msg{
		Room: e.Room, Rooms: e.Rooms, Time: time.UnixMilli(e.Time).UTC(), Kind: chat.Kind(e.Kind),
		Nick: e.Nick, Ident: e.Ident, To: e.To, Text: e.Text,
	}
}

// subscribeEvents subscribes to the events every node gets (quits,
// renames, wallops) and to those for this node's members (private
// messages, invitations, kills).
func (b *Bus) subscribeEvents() error {
	for _, subj := range []string{b.o.Events + "user", b.o.Events + "node." + b.node} {
		s, err := b.nc.Subscribe(subj, b.onEvent)
		if err != nil {
			return fmt.Errorf("natsbus: subscribe %s: %w", subj, err)
		}
		b.subs = append(b.subs, s)
	}
	return nil
}

// onEvent hands another node's event to the hub.
func (b *Bus) onEvent(nm *nats.Msg) {
	m := b.decodeEvent(nm.Data)
	if m == nil {
		return
	}
	if d := b.deliver.Load(); d != nil {
		(*d)([]*chat.Msg{m})
	}
}

// Relay implements chat.Relay. Joins and parts are published to the
// stream like messages, so that every node shows them in the room's
// order. Quits, renames, wallops, private messages, invitations and kills
// go out over plain NATS, at most once: while NATS is unreachable they
// wait in the client's reconnect buffer, and are lost if it fills. A topic
// is written to the topics bucket, which the other nodes watch. What is
// for one nick (a private message, an invitation, a kill) goes to the node
// that holds the nick, as the nick bucket says; a nick no live node holds
// is chat.ErrNoSuchNick.
func (b *Bus) Relay(m *chat.Msg) error {
	switch {
	case m.To != "":
		h, ok := b.dir.lookup(m.To)
		if !ok || h.Node == b.node {
			return chat.ErrNoSuchNick
		}
		return b.publishEvent(b.o.Events+"node."+h.Node, m)
	case m.Kind == chat.Topic:
		// A put to the bucket is a publish to its subject: asynchronous,
		// and in order with the node's other puts.
		_, err := b.js.PublishAsync("$KV."+b.topics.Bucket()+"."+b64.EncodeToString([]byte(m.Room)), b.encodeEvent(m))
		if err != nil {
			return ErrUnavailable
		}
		return nil
	case m.Kind == chat.Quit || m.Kind == chat.Rename || m.Kind == chat.Wallops:
		return b.publishEvent(b.o.Events+"user", m)
	default:
		// A join or part: in the room's order, through the stream.
		return b.Publish(m)
	}
}

func (b *Bus) publishEvent(subject string, m *chat.Msg) error {
	if err := b.nc.Publish(subject, b.encodeEvent(m)); err != nil {
		return ErrUnavailable
	}
	return nil
}

func (b *Bus) openTopics(ctx context.Context) error {
	kv, err := b.bucket(ctx, "TOPICS", 0)
	if err != nil {
		return err
	}
	b.topics = kv
	b.topicsW, err = newWatch(ctx, kv)
	return err
}

// watchTopics hands the hub every room's topic at start, and the other
// nodes' changes after, until ctx is done.
func (b *Bus) watchTopics(ctx context.Context) {
	b.topicsW.run(ctx, func(e jetstream.KeyValueEntry) {
		if e.Operation() != jetstream.KeyValuePut {
			return
		}
		if m := b.decodeEvent(e.Value()); m != nil {
			m.Kind = chat.Topic
			if d := b.deliver.Load(); d != nil {
				(*d)([]*chat.Msg{m})
			}
		}
	})
}

// kvWatch watches a whole bucket.
type kvWatch struct {
	kv jetstream.KeyValue
	w  jetstream.KeyWatcher
}

// newWatch starts watching kv. It is made before Run, while nothing can
// close the connection: closed while a watch is being made, the client
// closes its channel under a send (nats.go 1.45).
func newWatch(ctx context.Context, kv jetstream.KeyValue) (*kvWatch, error) {
	w, err := kv.WatchAll(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("natsbus: watching bucket %s: %w", kv.Bucket(), err)
	}
	return &kvWatch{kv: kv, w: w}, nil
}

// run calls f with each entry, at first and as they change, until ctx is
// done; a watch that ends with the connection is made again.
func (kw *kvWatch) run(ctx context.Context, f func(jetstream.KeyValueEntry)) {
	w := kw.w
	for {
		if w != nil {
			for open := true; open; {
				select {
				case e, ok := <-w.Updates():
					if e != nil {
						f(e)
					}
					open = ok
				case <-ctx.Done():
					w.Stop()
					return
				}
			}
			w.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		w, _ = kw.kv.WatchAll(context.WithoutCancel(ctx))
	}
}

// directory is what the node knows of the nick bucket: which node holds
// which nick, to send private messages there. An entry not rewritten
// within the bucket's TTL is ignored: its node is dead.
type directory struct {
	w    *kvWatch
	ttl  time.Duration
	mu   sync.Mutex
	seen map[string]dirEntry // by nick key
}

type dirEntry struct {
	holder
	at time.Time
}

func newDirectory(w *kvWatch, ttl time.Duration) *directory {
	return &directory{w: w, ttl: ttl, seen: make(map[string]dirEntry)}
}

func (d *directory) lookup(nick string) (h holder, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.seen[nickKey(nick)]
	if !ok || time.Since(e.at) >= d.ttl {
		return holder{}, false
	}
	return e.holder, true
}

var _ chat.Directory = (*Bus)(nil)

// Lookup implements chat.Directory: who holds nick on another node, as the
// nick bucket says, and the rooms it is in there, as the presence bucket
// says.
func (b *Bus) Lookup(nick string) (chat.Who, []string, bool) {
	h, ok := b.dir.lookup(nick)
	if !ok || h.Node == b.node {
		return chat.Who{}, nil, false
	}
	return chat.Who{Nick: h.Nick, Ident: h.Ident, Real: h.Real}, b.presence.roomsOf(h.Nick), true
}

// run watches the nick bucket until ctx is done.
func (d *directory) run(ctx context.Context) {
	d.w.run(ctx, func(e jetstream.KeyValueEntry) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if e.Operation() == jetstream.KeyValuePut {
			var h holder
			if json.Unmarshal(e.Value(), &h) != nil {
				return
			}
			// The time it arrived, not the writer's clock.
			d.seen[e.Key()] = dirEntry{holder: h, at: time.Now()}
		} else {
			delete(d.seen, e.Key())
		}
	})
}
