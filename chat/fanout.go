package chat

import (
	"strings"
)

// This file is the fan-out: how what the backend delivers, and the events
// of rooms and members, reach the members, encoded once per format.

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
	h.o.Stats.Deliveries.Add(deliveries)
}

// remote shows what another hub relayed: a room event, a quit or rename,
// a private message, or a server operator's kill or wallops.
func (h *Hub) remote(ev *Msg) {
	switch ev.Kind {
	case Kill:
		h.remoteKill(ev)
		return
	case Wallops:
		h.wallops(ev)
		return
	}
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

// relayEvent hands ev to the backend for the other hubs, if it carries
// events.
func (h *Hub) relayEvent(ev *Msg) {
	if h.relay != nil {
		h.relay.Relay(ev)
	}
}
