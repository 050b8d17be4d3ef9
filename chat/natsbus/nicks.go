package natsbus

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/portside/portside/chat"
)

// nickRegistry holds this node's nicks in a key-value bucket shared by all
// nodes: a nick is created there only if absent, and this node refreshes
// its own before the bucket's TTL, so a dead node's nicks expire.
type nickRegistry struct {
	kv   jetstream.KeyValue
	node string
	ttl  time.Duration

	mu   sync.Mutex
	mine map[string]held // by key
}

func (b *Bus) openNicks(ctx context.Context) error {
	kv, err := b.bucket(ctx, "NICKS", b.o.PresenceTTL)
	if err != nil {
		return err
	}
	b.nicks = &nickRegistry{kv: kv, node: b.node, ttl: b.o.PresenceTTL, mine: make(map[string]held)}
	return nil
}

// held is a nick this node holds: the revision of its key, and the value
// written there.
type held struct {
	rev   uint64
	value []byte
}

// holder is the value of a nick's key: the node that holds it, and who
// the member is, for the other nodes' WHOIS.
type holder struct {
	Node  string `json:"o"`
	Nick  string `json:"n"`
	Ident string `json:"i,omitempty"`
	Real  string `json:"r,omitempty"`
}

// nickKey folds nick the way the hub does (ASCII case) into a key the
// bucket accepts.
func nickKey(nick string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.ToLower(nick)))
}

// ClaimNick implements chat.NickRegistry: it creates the nick's key if no
// node holds it, on a goroutine of its own, and calls done with the
// answer: nil, chat.ErrNickInUse, or an error matching chat.ErrBusy when
// NATS did not answer within 2 s.
func (b *Bus) ClaimNick(w chat.Who, done func(error)) {
	go func() { done(b.claimNick(w)) }()
}

// claimNick creates nick's key, waiting for NATS at most claimTimeout.
func (b *Bus) claimNick(w chat.Who) error {
	r := b.nicks
	key := nickKey(w.Nick)
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	defer cancel()
	value, _ := json.Marshal(holder{Node: r.node, Nick: w.Nick, Ident: w.Ident, Real: w.Real})
	rev, err := r.kv.Create(ctx, key, value)
	switch {
	case errors.Is(err, jetstream.ErrKeyExists):
		return chat.ErrNickInUse
	case err != nil:
		return errNickUnchecked
	}
	r.mu.Lock()
	r.mine[key] = held{rev, value}
	r.mu.Unlock()
	return nil
}

// claimTimeout bounds a nick claim: a client waits this long at most for
// its welcome when NATS does not answer.
const claimTimeout = 2 * time.Second

var _ chat.NickRegistry = (*Bus)(nil)

// ReleaseNick implements chat.NickRegistry. It does not wait: the key is
// deleted in the background, and expires anyway if that fails.
func (b *Bus) ReleaseNick(nick string) {
	r := b.nicks
	key := nickKey(nick)
	r.mu.Lock()
	h, ok := r.mine[key]
	delete(r.mine, key)
	r.mu.Unlock()
	if !ok {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r.kv.Delete(ctx, key, jetstream.LastRevision(h.rev))
	}()
}

// refresh rewrites this node's nicks, each only if still its own, so that
// they outlive the bucket's TTL while the node lives.
func (r *nickRegistry) refresh(ctx context.Context) {
	r.mu.Lock()
	keys := maps.Clone(r.mine)
	r.mu.Unlock()
	for key, h := range keys {
		nrev, err := r.kv.Update(ctx, key, h.value, h.rev)
		r.mu.Lock()
		if cur, ok := r.mine[key]; ok && cur.rev == h.rev {
			if err == nil {
				r.mine[key] = held{nrev, h.value}
			} else if errors.Is(err, jetstream.ErrKeyExists) {
				// Lost: it expired (a long partition) and another took it.
				delete(r.mine, key)
			}
		}
		r.mu.Unlock()
	}
}

// refresher refreshes every third of the TTL until ctx is done.
func (r *nickRegistry) refresher(ctx context.Context) {
	t := time.NewTicker(r.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, r.ttl/3)
			r.refresh(rctx)
			cancel()
		}
	}
}

// releaseAll deletes this node's nicks, when it stops.
func (b *Bus) releaseAll() {
	r := b.nicks
	r.mu.Lock()
	mine := r.mine
	r.mine = make(map[string]held)
	r.mu.Unlock()
	if !b.nc.IsConnected() {
		return // they expire
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for key, h := range mine {
		r.kv.Delete(ctx, key, jetstream.LastRevision(h.rev))
	}
}
