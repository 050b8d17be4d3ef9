package chat

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Channel modes (RFC 2812 §3.2.3, as ISUPPORT advertises them): operators
// (+o) and voiced members (+v) by nick, the flags +imnst, a key (+k), a
// limit (+l) and ban masks (+b). A room's modes are part of its durable
// state: a backend that is a ModeKeeper keeps them across restarts and, in
// a cluster, shares them with the other hubs.

// Room mode flags.
const (
	modeInvite    uint8 = 1 << iota // +i: only the invited may join
	modeModerated                   // +m: only +o and +v speak
	modeNoOutside                   // +n: only members speak
	modeSecret                      // +s: hidden from LIST and WHOIS of non-members
	modeTopic                       // +t: only operators set the topic
)

// flagLetters are the flag modes in the order of their bits.
const flagLetters = "imnst"

// Limits of channel modes, advertised in ISUPPORT.
const (
	MaxBans    = 100 // ban masks in one room (MAXLIST=b:100)
	MaxKeyLen  = 23  // bytes of a room key (KEYLEN)
	MaxModes   = 4   // mode changes with a parameter in one MODE (MODES)
	maxLimit   = 1 << 20
	chanModes  = "b,k,l,imnst" // CHANMODES: list, always a parameter, set only, flags
	userPrefix = "(ov)@+"      // PREFIX
)

// Errors of moderation. A door maps each to its numeric or its words.
var (
	ErrNotOp        = errors.New("chat: you are not an operator of that room")
	ErrBanned       = errors.New("chat: you are banned from that room")
	ErrInviteOnly   = errors.New("chat: that room is invite only")
	ErrBadKey       = errors.New("chat: wrong room key")
	ErrModerated    = errors.New("chat: that room is moderated: only operators and voiced members speak")
	ErrUnknownMode  = errors.New("chat: unknown mode")
	ErrTargetNotIn  = errors.New("chat: they are not in that room")
	ErrAlreadyIn    = errors.New("chat: they are already in that room")
	ErrKeySet       = errors.New("chat: the room's key is already set")
	ErrBanListFull  = errors.New("chat: the room's ban list is full")
	ErrBadModeParam = errors.New("chat: invalid mode parameter")
)

// Ban is one ban mask of a room, who set it and when.
type Ban struct {
	Mask string `json:"mask"` // nick!user@host, lower case, with * and ?
	By   string `json:"by"`
	At   int64  `json:"at"` // unix seconds
}

// RoomModes is a room's moderation state as a backend keeps it.
type RoomModes struct {
	Flags  string   `json:"flags,omitempty"` // the letters of imnst set
	Key    string   `json:"key,omitempty"`
	Limit  int      `json:"limit,omitempty"`
	Bans   []Ban    `json:"bans,omitempty"`
	Ops    []string `json:"ops,omitempty"`    // folded nicks
	Voiced []string `json:"voiced,omitempty"` // folded nicks
	// Set says an operator changed the room: its state is kept while it
	// is empty. A room nobody moderated is forgotten with its last
	// member, so that joining rooms in passing leaves nothing behind.
	Set bool `json:"set,omitempty"`
}

// ModeKeeper is implemented by backends that keep rooms' modes: the hub
// hands over a room's whole state after every change (nil: forget it).
// KeepModes must not block. The SQLite store writes it before the next
// messages it commits; the NATS bus puts it in a bucket every node watches,
// and hands the other nodes' changes to the hub as Mode messages with
// Modes set and no Nick.
type ModeKeeper interface {
	KeepModes(room string, m *RoomModes)
}

// ModeLoader is implemented by backends that keep modes across restarts:
// the hub loads them at start.
type ModeLoader interface {
	LoadModes() (map[string]*RoomModes, error)
}

// modeState is the hub's record of a room's modes. Guarded by hub.mu.
type modeState struct {
	flags   uint8
	key     string
	limit   int
	bans    []Ban
	ops     map[string]bool // folded nicks
	voiced  map[string]bool
	invited map[string]bool // folded nicks invited until they join; not kept
	set     bool
}

func newModeState() *modeState {
	return &modeState{flags: modeNoOutside, ops: map[string]bool{}, voiced: map[string]bool{}, invited: map[string]bool{}}
}

func (st *modeState) export() *RoomModes {
	rm := &RoomModes{Key: st.key, Limit: st.limit, Bans: slices.Clone(st.bans), Set: st.set}
	for i := range len(flagLetters) {
		if st.flags&(1<<i) != 0 {
			rm.Flags += flagLetters[i : i+1]
		}
	}
	rm.Ops = slices.Sorted(maps.Keys(st.ops))
	rm.Voiced = slices.Sorted(maps.Keys(st.voiced))
	return rm
}

// importModes makes the hub's record of what a backend kept, dropping
// what is not valid (another node, or an older release, may have written
// it).
func importModes(rm *RoomModes) *modeState {
	st := newModeState()
	st.flags = 0
	for _, c := range rm.Flags {
		if i := strings.IndexRune(flagLetters, c); i >= 0 {
			st.flags |= 1 << i
		}
	}
	if validKey(rm.Key) {
		st.key = rm.Key
	}
	if rm.Limit > 0 && rm.Limit <= maxLimit {
		st.limit = rm.Limit
	}
	for _, b := range rm.Bans {
		if mask, ok := normalMask(b.Mask); ok && len(st.bans) < MaxBans && CheckText(b.By) == nil {
			st.bans = append(st.bans, Ban{Mask: mask, By: b.By, At: b.At})
		}
	}
	for _, n := range rm.Ops {
		st.ops[foldNick(n)] = true
	}
	for _, n := range rm.Voiced {
		st.voiced[foldNick(n)] = true
	}
	st.set = rm.Set
	return st
}

// validKey: a key is one word of at most MaxKeyLen bytes, with no
// commas or controls.
func validKey(k string) bool {
	if k == "" || len(k) > MaxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c == ',' || c == 0x7f || c == ':' && i == 0 {
			return false
		}
	}
	return CheckText(k) == nil
}

// modeString is "+nt" and the parameters of +k and +l (shown to members
// only).
func (st *modeState) modeString(members bool) (string, []string) {
	s := "+"
	for i := range len(flagLetters) {
		if st.flags&(1<<i) != 0 {
			s += flagLetters[i : i+1]
		}
	}
	var params []string
	if st.key != "" {
		s += "k"
		if members {
			params = append(params, st.key)
		} else {
			params = append(params, "*")
		}
	}
	if st.limit > 0 {
		s += "l"
		params = append(params, strconv.Itoa(st.limit))
	}
	return s, params
}

// banned reports whether m matches one of the room's ban masks.
func (st *modeState) banned(m *Member) bool {
	src := m.nick + "!" + m.ident
	return slices.ContainsFunc(st.bans, func(b Ban) bool { return matchMask(b.Mask, src) })
}

// isOper is the hook for server operators, who may act in every room as
// its operators do. No member is one until a door makes it so.
func (h *Hub) isOper(m *Member) bool { return h.IsOper(m) }

// isChanOpLocked reports whether m is an operator of the room whose state
// is st (nil: a room nobody moderates). h.mu is held.
func (h *Hub) isChanOpLocked(st *modeState, m *Member) bool {
	return h.isOper(m) || st != nil && st.ops[foldNick(m.nick)]
}

// prefixLocked is "@" for an operator of room, "+" for a voiced member,
// "" for the others. h.mu is held.
func (h *Hub) prefixLocked(room, nick string) string {
	st := h.modes[room]
	switch {
	case st == nil:
		return ""
	case st.ops[foldNick(nick)]:
		return "@"
	case st.voiced[foldNick(nick)]:
		return "+"
	}
	return ""
}

// prefixedLocked returns nicks with their prefixes in room. h.mu is held.
func (h *Hub) prefixedLocked(room string, nicks []string) []string {
	out := make([]string, len(nicks))
	for i, n := range nicks {
		out[i] = h.prefixLocked(room, n) + n
	}
	return out
}

// Prefixes returns the prefix ("@" or "+") of each member of room who has
// one, by nick.
func (h *Hub) Prefixes(room string) map[string]string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	st := h.modes[room]
	if st == nil {
		return nil
	}
	var nicks []string
	if r := h.rooms[room]; r != nil {
		r.mu.Lock()
		nicks = r.Nicks()
		r.mu.Unlock()
	} else if p, ok := h.o.Backend.(Presence); ok {
		nicks = p.Elsewhere(room)
	}
	out := map[string]string{}
	for _, n := range nicks {
		if p := h.prefixLocked(room, n); p != "" {
			out[n] = p
		}
	}
	return out
}

// admitLocked says whether m may join room r, with key: not banned (474),
// invited to a +i room (473), with its key (475), below its limit (471).
// h.mu and r.mu are held.
func (h *Hub) admitLocked(m *Member, r *Room, key string) error {
	st := h.modes[r.name]
	if st == nil || h.isOper(m) {
		return nil
	}
	invited := st.invited[foldNick(m.nick)]
	switch {
	case st.banned(m):
		return ErrBanned
	case st.flags&modeInvite != 0 && !invited:
		return ErrInviteOnly
	case st.key != "" && key != st.key:
		return ErrBadKey
	case st.limit > 0 && len(r.Nicks()) >= st.limit:
		return ErrRoomFull
	}
	return nil
}

// joinedModesLocked records m's joining r: the first member of a room
// without operators becomes its operator; an invitation is used up. m is
// in r.members already. h.mu
// is held.
func (h *Hub) joinedModesLocked(m *Member, r *Room) {
	st := h.modes[r.name]
	if st == nil {
		st = newModeState()
		h.modes[r.name] = st
	}
	delete(st.invited, foldNick(m.nick))
	if len(st.ops) == 0 && len(r.members) == 1 && (r.presence == nil || len(r.presence.Elsewhere(r.name)) == 0) {
		st.ops[foldNick(m.nick)] = true
		h.keepLocked(r.name, st)
	}
}

// emptiedLocked forgets the modes of a room its last member left, unless
// an operator set them. h.mu is held.
func (h *Hub) emptiedLocked(r *Room) {
	st := h.modes[r.name]
	if st == nil || st.set || len(r.members) > 0 || r.presence != nil && len(r.presence.Elsewhere(r.name)) > 0 {
		return
	}
	delete(h.modes, r.name)
	if h.keeper != nil {
		h.keeper.KeepModes(r.name, nil)
	}
}

// keepLocked hands st to the backend to keep. h.mu is held.
func (h *Hub) keepLocked(room string, st *modeState) {
	if h.keeper != nil {
		h.keeper.KeepModes(room, st.export())
	}
}

// renameModesLocked moves m's operator and voice status in its rooms from
// its old nick to nick. h.mu is held.
func (h *Hub) renameModesLocked(m *Member, nick string) {
	old, nw := foldNick(m.nick), foldNick(nick)
	if old == nw {
		return
	}
	for _, r := range m.rooms {
		st := h.modes[r.name]
		if st == nil {
			continue
		}
		changed := false
		for _, set := range []map[string]bool{st.ops, st.voiced} {
			if set[old] {
				delete(set, old)
				set[nw] = true
				changed = true
			}
		}
		if changed {
			h.keepLocked(r.name, st)
		}
	}
}

// maySay says whether m may speak in room r: +n keeps out those who are
// not in it, +m those neither operators nor voiced, a ban those who match
// it (unless operators or voiced). h.mu is held for reading.
func (h *Hub) maySayLocked(m *Member, r *Room, in bool) error {
	st := h.modes[r.name]
	if !in && (st == nil || st.flags&modeNoOutside != 0) {
		return ErrNotIn
	}
	if st == nil || h.isOper(m) {
		return nil
	}
	n := foldNick(m.nick)
	if st.ops[n] || st.voiced[n] {
		return nil
	}
	if st.flags&modeModerated != 0 {
		return ErrModerated
	}
	if st.banned(m) {
		return ErrBanned
	}
	return nil
}

// mayTopicLocked says whether m may set r's topic. h.mu is held.
func (h *Hub) mayTopicLocked(m *Member, r *Room) error {
	st := h.modes[r.name]
	if st != nil && st.flags&modeTopic != 0 && !h.isChanOpLocked(st, m) {
		return ErrNotOp
	}
	return nil
}

// SecretFrom reports whether room is +s and m not in it: LIST and WHOIS
// do not show it to m.
func (h *Hub) SecretFrom(m *Member, room string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	st := h.modes[room]
	if st == nil || st.flags&modeSecret == 0 {
		return false
	}
	r := h.rooms[room]
	return r == nil || !slices.Contains(m.rooms, r)
}

// ModeError is one part of a command that was refused: Err says why, Arg
// is the mode letter, the nick or the parameter concerned.
type ModeError struct {
	Err   error
	Arg   string
	Param string // for ErrBadModeParam: the parameter refused
}

// Error says what was refused, in words for a person.
func (e ModeError) Error() string {
	switch {
	case errors.Is(e.Err, ErrUnknownMode):
		return "Unknown mode " + e.Arg + "."
	case errors.Is(e.Err, ErrNoSuchNick):
		return "No one is called " + e.Arg + "."
	case errors.Is(e.Err, ErrTargetNotIn):
		return e.Arg + " is not in the room."
	case errors.Is(e.Err, ErrKeySet):
		return "The room already has a key: remove it first (-k)."
	case errors.Is(e.Err, ErrBanListFull):
		return "The ban list is full (" + strconv.Itoa(MaxBans) + " masks): " + e.Arg + " was not added."
	case errors.Is(e.Err, ErrBadModeParam) && e.Arg == "k":
		return "A key is one word of at most " + strconv.Itoa(MaxKeyLen) + " bytes, without commas."
	case errors.Is(e.Err, ErrBadModeParam) && e.Arg == "l":
		return "A limit is a whole number above 0."
	case errors.Is(e.Err, ErrBadModeParam):
		return "A ban mask is nick!user@host, with * and ? as wildcards, or a nick."
	case errors.Is(e.Err, ErrNotOp):
		return "You are not an operator of the room."
	case errors.Is(e.Err, ErrNotIn):
		return "You are not in the room."
	}
	return strings.TrimPrefix(e.Err.Error(), "chat: ")
}

// ModeReply is the outcome of Mode.
type ModeReply struct {
	// For a query (no changes): the room's modes, their parameters (the
	// key is "*" to those not in the room) and when the room was made.
	Query   bool
	Modes   string
	Params  []string
	Created time.Time
	// ListBans says the ban list was asked for; Bans is it.
	ListBans bool
	Bans     []Ban
	// Applied is what changed, as IRC writes it ("+o-v ana bob"); "" for
	// nothing. Everyone in the room was shown it.
	Applied string
	Errs    []ModeError
}

type modeChange struct {
	plus  bool
	c     byte
	param string
}

// Mode queries or changes the modes of the room called room for m, with
// IRC's arguments: "+mo-v ana bob", as one word of letters and then the
// parameters, or as args split so. Letters it does not know are refused
// each (ErrUnknownMode); changes with a parameter beyond MaxModes, and
// parameters beyond those needed, are ignored (RFC 2812). Changes need m to
// be an operator of the room (else nothing changes: ErrNotOp); a "+b"
// without a mask lists the bans, for anyone. The whole command fails with
// ErrBadRoom for a room that does not exist.
func (h *Hub) Mode(m *Member, room string, args []string) (ModeReply, error) {
	var rep ModeReply
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil || r.count.Load() == 0 && (r.presence == nil || len(r.presence.Elsewhere(room)) == 0) {
		return rep, ErrBadRoom
	}
	st := h.modes[room]
	in := slices.Contains(m.rooms, r)
	if len(args) == 0 || args[0] == "" {
		if st == nil {
			st = newModeState()
		}
		rep.Query = true
		rep.Modes, rep.Params = st.modeString(in)
		rep.Created = r.created
		return rep, nil
	}
	var changes []modeChange
	plus, params, withParam := true, args[1:], 0
	next := func() (string, bool) {
		if len(params) == 0 {
			return "", false
		}
		p := params[0]
		params = params[1:]
		return p, true
	}
	for i := 0; i < len(args[0]); i++ {
		c := args[0][i]
		switch c {
		case '+', '-':
			plus = c == '+'
		case 'b', 'o', 'v', 'k', 'l':
			need := c != 'l' || plus
			if c == 'b' && len(params) == 0 {
				rep.ListBans = true
				continue
			}
			p, ok := "", false
			if need || c == 'k' {
				p, ok = next()
			}
			if need && !ok {
				continue // a change without its parameter is ignored
			}
			withParam++
			if withParam > MaxModes {
				continue
			}
			changes = append(changes, modeChange{plus, c, p})
		case 'i', 'm', 'n', 's', 't':
			changes = append(changes, modeChange{plus, c, ""})
		default:
			rep.Errs = append(rep.Errs, ModeError{Err: ErrUnknownMode, Arg: string(c)})
		}
	}
	if rep.ListBans {
		if st != nil {
			rep.Bans = slices.Clone(st.bans)
		}
	}
	if len(changes) == 0 {
		return rep, nil
	}
	if !in && !h.isOper(m) {
		rep.Errs = append(rep.Errs, ModeError{Err: ErrNotIn, Arg: ""})
		return rep, nil
	}
	if !h.isChanOpLocked(st, m) {
		rep.Errs = append(rep.Errs, ModeError{Err: ErrNotOp, Arg: ""})
		return rep, nil
	}
	if st == nil {
		st = newModeState()
		h.modes[room] = st
	}
	var out strings.Builder
	var outParams []string
	sign := byte(0)
	applied := func(ch modeChange, param string) {
		s := byte('-')
		if ch.plus {
			s = '+'
		}
		if s != sign {
			out.WriteByte(s)
			sign = s
		}
		out.WriteByte(ch.c)
		if param != "" {
			outParams = append(outParams, param)
		}
	}
	nicks := r.Nicks()
	for _, ch := range changes {
		switch ch.c {
		case 'i', 'm', 'n', 's', 't':
			bit := uint8(1) << strings.IndexByte(flagLetters, ch.c)
			if (st.flags&bit != 0) == ch.plus {
				continue
			}
			st.flags ^= bit
			applied(ch, "")
		case 'o', 'v':
			i := slices.IndexFunc(nicks, func(n string) bool { return foldNick(n) == foldNick(ch.param) })
			if i < 0 {
				if h.nicks[foldNick(ch.param)] == nil {
					if _, _, ok := h.Remote(ch.param); !ok {
						rep.Errs = append(rep.Errs, ModeError{Err: ErrNoSuchNick, Arg: ch.param})
						continue
					}
				}
				rep.Errs = append(rep.Errs, ModeError{Err: ErrTargetNotIn, Arg: ch.param})
				continue
			}
			set := st.ops
			if ch.c == 'v' {
				set = st.voiced
			}
			key := foldNick(nicks[i])
			if set[key] == ch.plus {
				continue
			}
			if ch.plus {
				set[key] = true
			} else {
				delete(set, key)
			}
			applied(ch, nicks[i])
		case 'k':
			if ch.plus {
				if !validKey(ch.param) {
					rep.Errs = append(rep.Errs, ModeError{Err: ErrBadModeParam, Arg: "k", Param: ch.param})
					continue
				}
				if st.key != "" {
					rep.Errs = append(rep.Errs, ModeError{Err: ErrKeySet, Arg: ""})
					continue
				}
				st.key = ch.param
				applied(ch, ch.param)
			} else if st.key != "" {
				st.key = ""
				applied(ch, "*")
			}
		case 'l':
			if ch.plus {
				n, err := strconv.Atoi(ch.param)
				if err != nil || n <= 0 || n > maxLimit {
					rep.Errs = append(rep.Errs, ModeError{Err: ErrBadModeParam, Arg: "l", Param: ch.param})
					continue
				}
				if st.limit == n {
					continue
				}
				st.limit = n
				applied(ch, ch.param)
			} else if st.limit != 0 {
				st.limit = 0
				applied(ch, "")
			}
		case 'b':
			mask, ok := normalMask(ch.param)
			if !ok {
				rep.Errs = append(rep.Errs, ModeError{Err: ErrBadModeParam, Arg: "b", Param: ch.param})
				continue
			}
			i := slices.IndexFunc(st.bans, func(b Ban) bool { return b.Mask == mask })
			switch {
			case ch.plus && i >= 0, !ch.plus && i < 0:
				continue
			case ch.plus && len(st.bans) >= MaxBans:
				rep.Errs = append(rep.Errs, ModeError{Err: ErrBanListFull, Arg: mask})
				continue
			case ch.plus:
				st.bans = append(st.bans, Ban{Mask: mask, By: m.nick, At: h.o.Now().Unix()})
			default:
				st.bans = slices.Delete(st.bans, i, i+1)
			}
			applied(ch, mask)
		}
	}
	if out.Len() == 0 {
		return rep, nil
	}
	rep.Applied = strings.Join(append([]string{out.String()}, outParams...), " ")
	st.set = true
	h.keepLocked(room, st)
	h.roomEventLocked(r, &Msg{Kind: Mode, Room: room, Time: h.o.Now(), Nick: m.nick, Ident: m.ident, Text: rep.Applied, Modes: st.export()}, nil)
	return rep, nil
}

// roomEventLocked shows ev to the members of r, and to also if not nil,
// and relays it to the other hubs. h.mu is held.
func (h *Hub) roomEventLocked(r *Room, ev *Msg, also *Member) {
	var enc encodings
	r.mu.Lock()
	for _, p := range r.members {
		p.out.Write(enc.get1(h, p.format.Load(), ev))
	}
	r.mu.Unlock()
	if also != nil {
		also.out.Write(enc.get1(h, also.format.Load(), ev))
	}
	h.relayEvent(ev)
}

// Kick takes the members called targets out of the room called room, for
// reason, and shows everyone in it (them included) who did it. m must be
// an operator of the room and in it. Each target that is not there is
// refused on its own (ErrNoSuchNick, ErrTargetNotIn); a kicked member may
// join again, unless banned.
func (h *Hub) Kick(m *Member, room string, targets []string, reason string) ([]ModeError, error) {
	if err := CheckText(reason); err != nil {
		return nil, err
	}
	if len(reason) > h.o.MaxMessage {
		return nil, ErrTooLong
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil || r.count.Load() == 0 {
		return nil, ErrBadRoom
	}
	if !slices.Contains(m.rooms, r) && !h.isOper(m) {
		return nil, ErrNotIn
	}
	st := h.modes[room]
	if !h.isChanOpLocked(st, m) {
		return nil, ErrNotOp
	}
	var errs []ModeError
	for _, t := range targets {
		if t == "" {
			continue
		}
		r.mu.Lock()
		nicks := r.Nicks()
		r.mu.Unlock()
		i := slices.IndexFunc(nicks, func(n string) bool { return foldNick(n) == foldNick(t) })
		if i < 0 {
			if _, _, ok := h.Remote(t); h.nicks[foldNick(t)] == nil && !ok {
				errs = append(errs, ModeError{Err: ErrNoSuchNick, Arg: t})
			} else {
				errs = append(errs, ModeError{Err: ErrTargetNotIn, Arg: t})
			}
			continue
		}
		target := nicks[i]
		if k := foldNick(target); st != nil && (st.ops[k] || st.voiced[k]) {
			// A kicked member leaves its status behind.
			delete(st.ops, k)
			delete(st.voiced, k)
			h.keepLocked(room, st)
		}
		ev := &Msg{Kind: Kick, Room: room, Time: h.o.Now(), Nick: m.nick, Ident: m.ident, Target: target, Text: reason}
		if st != nil {
			ev.Modes = st.export()
		}
		h.roomEventLocked(r, ev, nil)
		h.kickedLocked(r, target)
	}
	return errs, nil
}

// kickedLocked takes the member of this hub called nick out of r, once
// everyone was shown the kick. h.mu is held.
func (h *Hub) kickedLocked(r *Room, nick string) {
	t := h.nicks[foldNick(nick)]
	if t == nil || !slices.Contains(t.rooms, r) {
		return
	}
	h.partLocked(t, r, "", false)
}

// Invite invites the member called nick to the room called room, which m
// is in: they may join it though it is +i, once. In a +i room only its
// operators invite. The invited member is told.
func (h *Hub) Invite(m *Member, nick, room string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil || r.count.Load() == 0 {
		return "", ErrBadRoom
	}
	if !slices.Contains(m.rooms, r) {
		return "", ErrNotIn
	}
	st := h.modes[room]
	if st != nil && st.flags&modeInvite != 0 && !h.isChanOpLocked(st, m) {
		return "", ErrNotOp
	}
	t := h.nicks[foldNick(nick)]
	var w Who
	if t == nil {
		var ok bool
		if w, _, ok = h.Remote(nick); !ok {
			return "", ErrNoSuchNick
		}
	} else {
		w.Nick = t.nick
	}
	r.mu.Lock()
	in := slices.ContainsFunc(r.Nicks(), func(n string) bool { return foldNick(n) == foldNick(nick) })
	r.mu.Unlock()
	if in {
		return "", ErrAlreadyIn
	}
	if st == nil {
		st = newModeState()
		h.modes[room] = st
	}
	st.invited[foldNick(w.Nick)] = true
	ev := &Msg{Kind: Invite, Room: room, Time: h.o.Now(), Nick: m.nick, Ident: m.ident, To: w.Nick}
	if t != nil {
		t.out.Write(h.formats[t.format.Load()](nil, ev, false))
	} else if h.relay != nil {
		h.relay.Relay(ev)
	}
	return w.Nick, nil
}

// remoteModesLocked applies what another hub says of a room: its modes
// after a change (ev.Modes), an invitation of a member of this hub, a
// member of this hub kicked. It reports whether ev is to be shown. h.mu is
// held.
func (h *Hub) remoteModesLocked(ev *Msg) bool {
	switch ev.Kind {
	case Invite:
		st := h.modes[ev.Room]
		if st == nil {
			st = newModeState()
			h.modes[ev.Room] = st
		}
		st.invited[foldNick(ev.To)] = true
		return true
	case Mode, Kick:
		var invited map[string]bool
		if old := h.modes[ev.Room]; old != nil {
			invited = old.invited
		}
		if ev.Modes == nil {
			if ev.Nick == "" {
				delete(h.modes, ev.Room)
			}
		} else {
			st := importModes(ev.Modes)
			if invited != nil {
				st.invited = invited
			}
			h.modes[ev.Room] = st
		}
		return ev.Nick != ""
	}
	return true
}

// loadModes loads the rooms' modes from a ModeLoader backend. h.mu is
// held.
func (h *Hub) loadModesLocked() error {
	l, ok := h.o.Backend.(ModeLoader)
	if !ok {
		return nil
	}
	all, err := l.LoadModes()
	if err != nil {
		return err
	}
	for room, rm := range all {
		if ValidRoom(room) && rm != nil {
			h.modes[room] = importModes(rm)
		}
	}
	return nil
}

// remoteModes shows and applies a Mode, Kick or Invite from another hub.
// It reports false for other kinds, which remote handles.
func (h *Hub) remoteModes(ev *Msg) bool {
	if ev.Kind != Mode && ev.Kind != Kick && ev.Kind != Invite {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.remoteModesLocked(ev) {
		return true
	}
	var enc encodings
	if ev.Kind == Invite {
		if t := h.nicks[foldNick(ev.To)]; t != nil {
			t.out.Write(enc.get1(h, t.format.Load(), ev))
		}
		return true
	}
	r := h.rooms[ev.Room]
	if r == nil {
		return true
	}
	r.mu.Lock()
	for _, p := range r.members {
		p.out.Write(enc.get1(h, p.format.Load(), ev))
	}
	r.mu.Unlock()
	if ev.Kind == Kick {
		h.kickedLocked(r, ev.Target)
	}
	return true
}

// unusedLocked forgets r, made for a join that was refused, if nothing
// holds it. h.mu and r.mu are held.
func (h *Hub) unusedLocked(r *Room) {
	if len(r.members) == 0 && len(r.ring) == 0 && len(r.waiting) == 0 && r.follow == followNone && h.rooms[r.name] == r {
		delete(h.rooms, r.name)
	}
}
