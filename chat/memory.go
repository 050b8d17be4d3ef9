package chat

import (
	"context"
	"sync"
)

// Memory is a Backend that orders messages with a counter per room and
// keeps the latest of each room in memory: nothing survives a restart. It
// suits tests and benchmarks of the hub itself.
type Memory struct {
	keep int

	mu     sync.Mutex
	q      []*Msg
	closed bool
	rooms  map[string]*memRoom
	wake   chan struct{}
}

type memRoom struct {
	seq  uint64
	msgs []*Msg // the latest keep messages, oldest first
}

// NewMemory returns a Memory that keeps the latest keep messages of each
// room.
func NewMemory(keep int) *Memory {
	return &Memory{keep: keep, rooms: make(map[string]*memRoom), wake: make(chan struct{}, 1)}
}

// Publish implements Backend.
func (b *Memory) Publish(m *Msg) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.q = append(b.q, m)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return nil
}

// History implements Backend; it replies before returning.
func (b *Memory) History(room string, before uint64, n int, reply func([]*Msg, error)) {
	b.mu.Lock()
	var out []*Msg
	if r := b.rooms[room]; r != nil {
		msgs := r.msgs
		if before > 0 {
			i := len(msgs)
			for i > 0 && msgs[i-1].Seq >= before {
				i--
			}
			msgs = msgs[:i]
		}
		out = append(out, msgs[max(0, len(msgs)-n):]...)
	}
	b.mu.Unlock()
	reply(out, nil)
}

// Run implements Backend.
func (b *Memory) Run(ctx context.Context, deliver func([]*Msg)) error {
	var batch []*Msg
	for {
		b.mu.Lock()
		batch, b.q = b.q, batch[:0]
		for _, m := range batch {
			r := b.rooms[m.Room]
			if r == nil {
				r = new(memRoom)
				b.rooms[m.Room] = r
			}
			r.seq++
			m.Seq = r.seq
			if len(r.msgs) == b.keep {
				copy(r.msgs, r.msgs[1:])
				r.msgs = r.msgs[:b.keep-1]
			}
			r.msgs = append(r.msgs, m)
		}
		stop := len(batch) == 0 && ctx.Err() != nil
		if stop {
			b.closed = true
		}
		b.mu.Unlock()
		if stop {
			return nil
		}
		if len(batch) > 0 {
			deliver(batch)
			clear(batch)
			continue
		}
		select {
		case <-b.wake:
		case <-ctx.Done():
		}
	}
}
