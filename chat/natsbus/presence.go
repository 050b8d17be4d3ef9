package natsbus

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// presence tells the other nodes who is in which room on this one, through
// a key-value bucket: a key per room and nick, written on join, deleted on
// part, rewritten with the nicks before the bucket's TTL. A watch on the
// bucket keeps what the other nodes wrote; an entry not rewritten within
// the TTL is ignored, so a dead node's members disappear.
type presence struct {
	kv   jetstream.KeyValue
	node string
	ttl  time.Duration
	now  func() time.Time

	connected func() bool

	mu     sync.Mutex
	mine   map[string]bool                 // keys of this node's members
	others map[string]map[string]time.Time // room → nick → last written, on other nodes
	ops    chan presenceOp
	w      jetstream.KeyWatcher
}

type presenceOp struct {
	key string
	put bool
}

func (b *Bus) openPresence(ctx context.Context) error {
	kv, err := b.bucket(ctx, "PRESENCE", b.o.PresenceTTL)
	if err != nil {
		return err
	}
	b.presence = &presence{
		kv: kv, node: b.node, ttl: b.o.PresenceTTL, now: time.Now, connected: b.nc.IsConnected,
		mine:   make(map[string]bool),
		others: make(map[string]map[string]time.Time),
		ops:    make(chan presenceOp, 4096),
	}
	b.presence.w, err = kv.WatchAll(context.WithoutCancel(ctx)) // see newWatch
	if err != nil {
		return fmt.Errorf("natsbus: watching presence: %w", err)
	}
	return nil
}

var b64 = base64.RawURLEncoding

func presenceKey(room, nick string) string {
	return b64.EncodeToString([]byte(room)) + "." + b64.EncodeToString([]byte(nick))
}

func parsePresenceKey(key string) (room, nick string, ok bool) {
	r, n, ok := strings.Cut(key, ".")
	if !ok {
		return "", "", false
	}
	rb, err1 := b64.DecodeString(r)
	nb, err2 := b64.DecodeString(n)
	return string(rb), string(nb), err1 == nil && err2 == nil
}

// Joined implements chat.Presence.
func (b *Bus) Joined(room, nick string) { b.presence.change(presenceKey(room, nick), true) }

// Parted implements chat.Presence.
func (b *Bus) Parted(room, nick string) { b.presence.change(presenceKey(room, nick), false) }

// Elsewhere implements chat.Presence: the nicks in room on other nodes.
func (b *Bus) Elsewhere(room string) []string {
	p := b.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	now := p.now()
	for nick, at := range p.others[room] {
		if now.Sub(at) < p.ttl {
			out = append(out, nick)
		}
	}
	return out
}

// Counts implements chat.Presence: how many are in each room on other
// nodes.
func (b *Bus) Counts() map[string]int {
	p := b.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int)
	now := p.now()
	for room, nicks := range p.others {
		for _, at := range nicks {
			if now.Sub(at) < p.ttl {
				out[room]++
			}
		}
	}
	return out
}

// roomsOf returns the rooms nick is in on other nodes, sorted.
func (p *presence) roomsOf(nick string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var rooms []string
	now := p.now()
	for room, nicks := range p.others {
		if at, ok := nicks[nick]; ok && now.Sub(at) < p.ttl {
			rooms = append(rooms, room)
		}
	}
	slices.Sort(rooms)
	return rooms
}

func (p *presence) change(key string, put bool) {
	p.mu.Lock()
	if put {
		p.mine[key] = true
	} else {
		delete(p.mine, key)
	}
	p.mu.Unlock()
	select {
	case p.ops <- presenceOp{key, put}:
	default:
		// Too many changes at once: the next refresh writes the joins;
		// a part not written expires with the TTL.
	}
}

// run writes this node's changes, rewrites its keys every third of the TTL
// and watches the others', until ctx is done; then it deletes its keys.
func (p *presence) run(ctx context.Context) {
	defer p.w.Stop()
	updates := p.w.Updates()
	t := time.NewTicker(p.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if p.kv != nil && p.connected() {
				p.deleteAll()
			}
			return
		case op := <-p.ops:
			octx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if op.put {
				p.kv.Put(octx, op.key, []byte(p.node))
			} else {
				p.kv.Delete(octx, op.key)
			}
			cancel()
		case <-t.C:
			p.mu.Lock()
			keys := make([]string, 0, len(p.mine))
			for k := range p.mine {
				keys = append(keys, k)
			}
			p.mu.Unlock()
			octx, cancel := context.WithTimeout(ctx, p.ttl/3)
			for _, k := range keys {
				p.kv.Put(octx, k, []byte(p.node))
			}
			cancel()
		case e, ok := <-updates:
			if !ok {
				updates = nil
				continue
			}
			if e != nil {
				p.seen(e)
			}
		}
	}
}

// seen records another node's write.
func (p *presence) seen(e jetstream.KeyValueEntry) {
	room, nick, ok := parsePresenceKey(e.Key())
	if !ok || string(e.Value()) == p.node {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	nicks := p.others[room]
	if e.Operation() != jetstream.KeyValuePut {
		delete(nicks, nick)
		return
	}
	if nicks == nil {
		nicks = make(map[string]time.Time)
		p.others[room] = nicks
	}
	// The time it arrived, not the writer's clock: clocks differ.
	nicks[nick] = p.now()
}

func (p *presence) deleteAll() {
	p.mu.Lock()
	mine := p.mine
	p.mine = make(map[string]bool)
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for k := range mine {
		p.kv.Delete(ctx, k)
	}
}
