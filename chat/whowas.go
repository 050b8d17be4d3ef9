package chat

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portside/portside/proto/irc"
)

// This file is WHOWAS's memory: who held the nicks given up lately, by a
// quit or a rename.

// whowasSize bounds the nicks remembered: the oldest is forgotten first.
const whowasSize = 1000

// Was is who held a nick given up lately.
type Was struct {
	Nick  string
	Ident string // user@host
	Real  string
	Gone  time.Time // when the nick was given up
}

// whowas is a ring of the latest whowasSize nicks given up, oldest
// overwritten first. It has its own lock: the hub records into it with
// h.mu held, and WHOWAS reads it without.
type whowas struct {
	mu   sync.Mutex
	ring []Was
	next int // where the next entry goes, once the ring is full
}

// add remembers w.
func (ww *whowas) add(w Was) {
	ww.mu.Lock()
	defer ww.mu.Unlock()
	if len(ww.ring) < whowasSize {
		ww.ring = append(ww.ring, w)
		return
	}
	ww.ring[ww.next] = w
	ww.next = (ww.next + 1) % whowasSize
}

// find returns up to n entries for nick (any case), newest first; n <= 0
// is all of them.
func (ww *whowas) find(nick string, n int) []Was {
	key := foldNick(nick)
	ww.mu.Lock()
	defer ww.mu.Unlock()
	var out []Was
	// Newest first: back from the slot before next, around the ring.
	for j := range len(ww.ring) {
		k := (ww.next - 1 - j + 2*len(ww.ring)) % len(ww.ring)
		if foldNick(ww.ring[k].Nick) == key {
			out = append(out, ww.ring[k])
			if n > 0 && len(out) == n {
				break
			}
		}
	}
	return out
}

// WhoWas returns who held nick lately, newest first, up to n entries
// (n <= 0: all the hub remembers). The hub remembers the last 1,000 nicks
// given up on it, by a quit or a rename.
func (h *Hub) WhoWas(nick string, n int) []Was { return h.whowas.find(nick, n) }

// gaveUpLocked remembers that m gives up its nick. h.mu is held.
func (h *Hub) gaveUpLocked(m *Member) {
	h.whowas.add(Was{Nick: m.nick, Ident: m.ident, Real: m.real, Gone: h.o.Now()})
}

// quitLocked remembers that m quits: its nick for WHOWAS, and one operator
// fewer. h.mu is held.
func (h *Hub) quitLocked(m *Member) {
	h.gaveUpLocked(m)
	if m.oper.CompareAndSwap(true, false) {
		h.opers.Add(-1)
	}
}

// whowasCmd answers WHOWAS nick [count]: 314 and 312 for each time the
// nick was given up lately, newest first, or 406; then 369.
func (i *ircConn) whowasCmd(m *irc.Message) {
	nick := m.Params[0]
	n, _ := strconv.Atoi(m.Param(1))
	was := i.hub.WhoWas(nick, n)
	if len(was) == 0 {
		i.reply(irc.ErrWasNoSuchNick, nick, "There was no such nickname")
	}
	for _, w := range was {
		user, host, _ := strings.Cut(w.Ident, "@")
		i.reply(irc.RplWhoWasUser, w.Nick, user, host, "*", w.Real)
		i.reply(irc.RplWhoisServer, w.Nick, i.hub.o.ServerName, w.Gone.UTC().Format(time.UnixDate))
	}
	i.reply(irc.RplEndOfWhoWas, nick, "End of WHOWAS")
}

// whowas answers the line door's /whowas NICK.
func (l *lineConn) whowas(nick string) {
	was := l.hub.WhoWas(nick, 0)
	if len(was) == 0 {
		l.say("! No one was called " + nick + " lately.")
		return
	}
	var b strings.Builder
	for j, w := range was {
		if j > 0 {
			b.WriteString("\r\n")
		}
		fmt.Fprintf(&b, "* %s was %s (%s) until %s", w.Nick, w.Ident, w.Real, w.Gone.UTC().Format("Jan 02 15:04:05"))
	}
	l.say(b.String())
}
