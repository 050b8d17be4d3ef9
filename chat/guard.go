package chat

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/netip"
	"sync"
	"time"
)

// This file is what the hub does against one address's abuse: a cap on its
// connections at once, whichever door they use, and a wait before each
// password it gives after a wrong one, growing with each further one.

// Errors of the guard.
var (
	// ErrPassword answers a wrong password.
	ErrPassword = errors.New("chat: wrong password")
	// ErrTooManyConns refuses a connection from an address that has
	// MaxConnsPerIP open already.
	ErrTooManyConns = errors.New("chat: too many connections from your address")
)

// passwordForget is how long an address's wrong passwords are held
// against it: after this long without one it starts afresh.
const passwordForget = 10 * time.Minute

// maxGuarded bounds the addresses whose wrong passwords are remembered, so
// that an attacker with many addresses cannot grow the table without end;
// beyond it, the one whose last failure is oldest is forgotten.
const maxGuarded = 10000

// guard keeps, per address, the connections open and the wrong passwords.
// An address is an IPv4 address, or an IPv6 /64: one host's share of
// addresses.
type guard struct {
	o *Options

	mu    sync.Mutex
	addrs map[string]*addrState
	nfail int // entries with failures > 0

	// Failure log lines are rate-limited over all addresses too.
	logTokens  float64
	logLast    int64
	suppressed int
}

type addrState struct {
	conns    int           // open connections, if the address is capped
	failures int           // wrong passwords since the last right one
	delay    time.Duration // the wait the next attempt books
	next     int64         // unix nanoseconds: when the next attempt is checked
	lastFail int64         // unix nanoseconds
}

func newGuard(o *Options) *guard {
	return &guard{o: o, addrs: make(map[string]*addrState)}
}

// addrKey is what an address is counted by: the IP, or for IPv6 its /64.
// An address that is not an IP (a connection with none to tell) is
// counted as it is, and exempt from the connection cap like loopback.
func addrKey(host string) (key string, exempt bool) {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host, true
	}
	a = a.Unmap()
	if a.Is6() && !a.IsLoopback() {
		p, _ := a.Prefix(64)
		return p.String(), false
	}
	return a.String(), a.IsLoopback()
}

// capped reports whether connections from an address count against
// MaxConnsPerIP, given whether it is loopback (or not an IP).
func (g *guard) capped(loopback bool) bool {
	return g.o.MaxConnsPerIP > 0 && (!loopback || g.o.LimitLoopback)
}

// admit counts a connection from host, or refuses it if its address has
// MaxConnsPerIP open already. Each admitted connection is released once.
func (g *guard) admit(host string) error {
	key, lo := addrKey(host)
	if !g.capped(lo) {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.addrs[key]
	if st == nil {
		st = new(addrState)
		g.addrs[key] = st
	}
	if st.conns >= g.o.MaxConnsPerIP {
		return ErrTooManyConns
	}
	st.conns++
	return nil
}

// release uncounts a connection admit let in.
func (g *guard) release(host string) {
	key, lo := addrKey(host)
	if !g.capped(lo) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if st := g.addrs[key]; st != nil {
		st.conns--
		g.tidyLocked(key, st)
	}
}

// tidyLocked drops key's entry once it holds nothing. g.mu is held.
func (g *guard) tidyLocked(key string, st *addrState) {
	if st.conns <= 0 && st.failures == 0 {
		delete(g.addrs, key)
	}
}

// turn books a password attempt from host and returns how long it must
// wait before it is checked: nothing for an address without recent wrong
// passwords. Attempts from one address are checked one after the other,
// each booking the current wait, so opening several connections at once
// does not get more guesses through.
func (g *guard) turn(host string, now int64) time.Duration {
	if g.o.PasswordDelay < 0 {
		return 0
	}
	key, _ := addrKey(host)
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.addrs[key]
	if st == nil || st.failures == 0 {
		return 0
	}
	if now-st.lastFail >= int64(passwordForget) {
		g.forgetLocked(key, st)
		return 0
	}
	at := max(now, st.next)
	st.next = at + int64(st.delay)
	return time.Duration(at - now)
}

// pause is how long to hold the answer to a wrong password from host,
// once result has counted it: the wait its next attempt would book.
func (g *guard) pause(host string) time.Duration {
	if g.o.PasswordDelay < 0 {
		return 0
	}
	key, _ := addrKey(host)
	g.mu.Lock()
	defer g.mu.Unlock()
	if st := g.addrs[key]; st != nil {
		return st.delay
	}
	return 0
}

// forgetLocked clears key's wrong passwords. g.mu is held.
func (g *guard) forgetLocked(key string, st *addrState) {
	if st.failures > 0 {
		g.nfail--
	}
	st.failures, st.delay, st.next, st.lastFail = 0, 0, 0, 0
	g.tidyLocked(key, st)
}

// result records the outcome of a password attempt from host checked at
// now, and reports whether to log a wrong one, with the address's count of
// them and how many log lines were held back before.
func (g *guard) result(host string, ok bool, now int64) (log bool, failures, suppressed int) {
	if g.o.PasswordDelay < 0 {
		return !ok, 0, 0
	}
	key, _ := addrKey(host)
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.addrs[key]
	if ok {
		if st != nil {
			g.forgetLocked(key, st)
		}
		return false, 0, 0
	}
	if st == nil {
		st = new(addrState)
		g.addrs[key] = st
	}
	if st.failures == 0 {
		if g.nfail >= maxGuarded {
			g.evictLocked()
		}
		g.nfail++
	}
	st.failures++
	st.delay = g.o.PasswordDelayMax
	if st.failures <= 30 {
		st.delay = min(g.o.PasswordDelay<<(st.failures-1), g.o.PasswordDelayMax)
	}
	st.lastFail = now
	st.next = max(st.next, now+int64(st.delay))
	// Each address logs its 1st, 2nd, 4th, 8th... failure, and all
	// addresses together at most one line a second after a burst of ten.
	if st.failures&(st.failures-1) != 0 {
		return false, st.failures, 0
	}
	const rate, burst = 1.0, 10.0
	if g.logLast == 0 {
		g.logTokens = burst
	} else {
		g.logTokens = min(burst, g.logTokens+float64(now-g.logLast)/1e9*rate)
	}
	g.logLast = now
	if g.logTokens < 1 {
		g.suppressed++
		return false, st.failures, 0
	}
	g.logTokens--
	suppressed = g.suppressed
	g.suppressed = 0
	return true, st.failures, suppressed
}

// evictLocked forgets the address whose last wrong password is oldest.
// g.mu is held.
func (g *guard) evictLocked() {
	var oldKey string
	var old *addrState
	for k, st := range g.addrs {
		if st.failures > 0 && (old == nil || st.lastFail < old.lastFail) {
			oldKey, old = k, st
		}
	}
	if old != nil {
		g.forgetLocked(oldKey, old)
	}
}

// sweep forgets the wrong passwords of addresses quiet for passwordForget.
func (g *guard) sweep(now int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, st := range g.addrs {
		if st.failures > 0 && now-st.lastFail >= int64(passwordForget) {
			g.forgetLocked(k, st)
		}
	}
}

// passwordEqual compares in constant time: how long it takes tells
// nothing of how much of the password was right, nor of its length.
func passwordEqual(got, want string) bool {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// CheckPassword checks a password the client at host (as Host gives it)
// sent against Options.Password, in constant time: nil if it is right or
// none is set, ErrPassword if not. Wrong passwords from an address make
// its next attempts wait, PasswordDelay after the first and doubling up to
// PasswordDelayMax, until a right one or passwordForget without a wrong
// one. When the attempt must wait, CheckPassword returns ErrPending and
// how long: the door holds the client's input meanwhile (Gate), arms its
// connection's timer (server.Conn.SetTimer) for the wait, and when it
// fires calls CheckPasswordNow for the outcome; the engine's goroutine
// moves on. Wrong passwords are logged with the address, a few lines per
// address at most.
func (h *Hub) CheckPassword(host, password string) (time.Duration, error) {
	if h.o.Password == "" {
		return 0, nil
	}
	wait := h.guard.turn(host, h.o.Now().UnixNano())
	if wait <= 0 {
		return 0, h.CheckPasswordNow(host, password)
	}
	return wait, ErrPending
}

// CheckPasswordNow checks a password whose turn CheckPassword said to wait
// for, once the wait is over.
func (h *Hub) CheckPasswordNow(host, password string) error {
	ok := passwordEqual(password, h.o.Password)
	log, failures, suppressed := h.guard.result(host, ok, h.o.Now().UnixNano())
	if log {
		args := []any{"addr", host, "failures", failures}
		if suppressed > 0 {
			// Lines about other addresses' wrong passwords, held back.
			args = append(args, "suppressed", suppressed)
		}
		h.o.Logger.Warn("chat wrong password", args...)
	}
	if !ok {
		return ErrPassword
	}
	return nil
}

// AdmitConn counts a connection from host (as Host gives it) against
// MaxConnsPerIP, or refuses it with ErrTooManyConns. The line and IRC
// doors call it when a connection opens, a browser door when its
// WebSocket does; each admitted connection is released with ReleaseConn
// when it closes.
func (h *Hub) AdmitConn(host string) error { return h.guard.admit(host) }

// ReleaseConn uncounts a connection AdmitConn admitted.
func (h *Hub) ReleaseConn(host string) { h.guard.release(host) }
