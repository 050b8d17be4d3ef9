package httpd

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Password guessing is slowed per client address. Each failed attempt is
// answered after a delay that doubles with the address's failures, and no
// further attempt from that address is judged before that delay has passed:
// attempts that arrive meanwhile, on any connection, wait. So guesses sent
// in parallel gain nothing over guesses sent one by one, and a right guess
// among them is not answered before the wrong ones judged ahead of it. A
// connection is closed after its third failure. Requests without
// credentials are not slowed: they reveal nothing.

const (
	// authMaxDoublings caps the delay at 2^5 = 32 times Options.AuthDelay.
	authMaxDoublings = 5
	// authConnFailures is how many failures one connection may have; the
	// answer to the last says Connection: close.
	authConnFailures = 3
	// authMaxWaiting bounds the attempts from one address that wait for
	// their turn; beyond it they are answered 429 unjudged.
	authMaxWaiting = 16
	// authForget is how long an address's failures are remembered after
	// its last one.
	authForget = 15 * time.Minute
	// authMaxAddrs bounds the addresses remembered.
	authMaxAddrs = 1 << 16
)

// authThrottle keeps the failed authentications per client address.
type authThrottle struct {
	base time.Duration

	mu        sync.Mutex
	addrs     map[netip.Addr]*authRecord
	lastPrune int64
}

type authRecord struct {
	fails   int
	next    int64 // unix ns before which no attempt is judged
	last    int64 // unix ns of the last failure
	waiting int   // attempts held until next
}

func newAuthThrottle(base time.Duration) *authThrottle {
	return &authThrottle{base: base, addrs: make(map[netip.Addr]*authRecord)}
}

// authKey is the address attempts are counted by: an IPv4 address, or the
// /64 prefix of an IPv6 one, since a single host usually holds a whole /64.
func authKey(a net.Addr) netip.Addr {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return netip.Addr{}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip
}

// verdict is what becomes of one authentication attempt.
type verdict struct {
	ok     bool          // the credentials passed
	wait   time.Duration // not judged yet: try again after this long
	refuse bool          // too many attempts wait: refused unjudged
	delay  time.Duration // failed: answer after this long
	fails  int           // failed: the address's failures so far
}

// attempt judges an attempt from key with check, unless an earlier
// failure's delay has not passed: then the attempt is to wait (counted
// until unwait), or is refused if too many wait already. Judging and
// recording happen under one lock, so attempts racing on other
// connections cannot slip in between.
func (t *authThrottle) attempt(key netip.Addr, now int64, check func() bool) verdict {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now-t.lastPrune > int64(time.Minute) {
		t.pruneLocked(now)
	}
	r := t.addrs[key]
	if r != nil && r.next > now {
		if r.waiting >= authMaxWaiting {
			return verdict{refuse: true}
		}
		r.waiting++
		return verdict{wait: time.Duration(r.next - now)}
	}
	if check() {
		if r != nil {
			if r.waiting == 0 {
				delete(t.addrs, key)
			} else {
				r.fails = 0 // the waiting still hold it
			}
		}
		return verdict{ok: true}
	}
	if r == nil {
		if len(t.addrs) >= authMaxAddrs {
			t.pruneLocked(now)
			for k := range t.addrs {
				if len(t.addrs) < authMaxAddrs {
					break
				}
				delete(t.addrs, k) // full of recent failures: forget any
			}
		}
		r = &authRecord{}
		t.addrs[key] = r
	}
	r.fails++
	d := t.base << min(r.fails-1, authMaxDoublings)
	r.next = now + int64(d)
	r.last = now
	return verdict{delay: d, fails: r.fails}
}

// unwait ends a wait that attempt counted.
func (t *authThrottle) unwait(key netip.Addr) {
	t.mu.Lock()
	if r := t.addrs[key]; r != nil && r.waiting > 0 {
		r.waiting--
	}
	t.mu.Unlock()
}

// pruneLocked forgets addresses quiet for authForget; attempt calls it at
// most once a minute.
func (t *authThrottle) pruneLocked(now int64) {
	t.lastPrune = now
	for k, r := range t.addrs {
		if r.waiting == 0 && now-r.last > int64(authForget) && r.next <= now {
			delete(t.addrs, k)
		}
	}
}

// authSum is what credentials are compared by: a hash, so the comparison
// takes the same time whatever their lengths.
func authSum(userPass []byte) [sha256.Size]byte { return sha256.Sum256(userPass) }

// credentialsMatch checks an Authorization value against the configured
// credentials: the Basic scheme in any case (RFC 9110 §11.1), then the
// base64 of user:password (RFC 7617), compared in constant time.
func (h *Handler) credentialsMatch(v []byte) bool {
	scheme, cred, ok := bytes.Cut(v, []byte{' '})
	if !ok || !equalFold(scheme, "basic") {
		return false
	}
	cred = bytes.TrimLeft(cred, " ")
	var buf [1024]byte
	if base64.StdEncoding.DecodedLen(len(cred)) > len(buf) {
		return false
	}
	n, err := base64.StdEncoding.Decode(buf[:], cred)
	if err != nil {
		return false
	}
	got := authSum(buf[:n])
	return subtle.ConstantTimeCompare(got[:], h.authWant[:]) == 1
}

// authorize checks the credentials of the request whose head is in, for a
// request that needs them. It reports true if they pass; otherwise it has
// dealt with the request: refused it, or put it off until the address may
// be judged again (the head is then looked at anew).
func (cn *conn) authorize() bool {
	h := cn.h
	if !h.authOn {
		return true
	}
	if cn.hd.auth == nil {
		cn.reject(401)
		return false
	}
	key := authKey(cn.c.RemoteAddr())
	// The waits are timers, so they are measured by the real clock, not
	// Options.Now.
	v := h.throttle.attempt(key, time.Now().UnixNano(), func() bool { return h.credentialsMatch(cn.hd.auth) })
	switch {
	case v.refuse:
		cn.closeAfter = true
		cn.reject(429)
		return false
	case v.wait > 0:
		cn.held, cn.heldKey = true, key
		cn.later(v.wait, cn.headAgain)
		return false
	case v.ok:
		user, _, _ := strings.Cut(h.o.Auth, ":")
		cn.user = user
		return true
	}
	cn.authFails++
	if cn.authFails >= authConnFailures {
		cn.closeAfter = true
	}
	if n := v.fails; n&(n-1) == 0 { // the 1st, 2nd, 4th, 8th ... failure of an address
		h.log.warn("authentication failed", "remote_addr", key.String(), "failures", n, "path", string(cn.path))
	}
	cn.rejectAfter(401, v.delay)
	return false
}

// headAgain looks at a request's head again once it has waited for its
// turn to be judged.
func (cn *conn) headAgain() {
	cn.setPhase(phaseBody)
	cn.onHead()
}
