package chat

// This file is what members say: messages in rooms, which the backend
// orders and keeps before the fan-out shows them, private messages, and
// the order of a client's commands behind its own messages (Sending).

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
