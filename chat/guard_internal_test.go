package chat

import (
	"strconv"
	"testing"
)

// TestAddrKey: an IPv6 host is counted by its /64, so one host cannot
// spread itself over its many addresses; loopback, and what is not an IP,
// is exempt from the connection cap unless asked.
func TestAddrKey(t *testing.T) {
	for _, tc := range []struct {
		host, key string
		exempt    bool
	}{
		{"203.0.113.7", "203.0.113.7", false},
		{"::ffff:203.0.113.7", "203.0.113.7", false},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64", false},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64", false},
		{"127.0.0.2", "127.0.0.2", true},
		{"::1", "::1", true},
		{"unknown", "unknown", true},
	} {
		key, exempt := addrKey(tc.host)
		if key != tc.key || exempt != tc.exempt {
			t.Errorf("addrKey(%q) = %q, %v; want %q, %v", tc.host, key, exempt, tc.key, tc.exempt)
		}
	}
}

// TestGuardBounded: wrong passwords from ever more addresses do not grow
// the table past maxGuarded; the address quiet longest is forgotten.
func TestGuardBounded(t *testing.T) {
	o := Options{}.withDefaults()
	g := newGuard(&o)
	const n = maxGuarded + 100
	for i := range n {
		host := "2001:db8:" + itoa(i>>16) + ":" + itoa(i&0xffff) + "::1"
		g.result(host, false, int64(i+1))
	}
	if len(g.addrs) != maxGuarded || g.nfail != maxGuarded {
		t.Errorf("%d addresses remembered (%d with failures); want %d", len(g.addrs), g.nfail, maxGuarded)
	}
	if wait := g.turn("2001:db8:0:0::1", n+1); wait != 0 {
		t.Errorf("the oldest address still waits %v", wait)
	}
	if wait := g.turn("2001:db8:0:"+itoa(n-1)+"::1", n+1); wait == 0 {
		t.Error("the newest address does not wait")
	}
}

func itoa(i int) string { return strconv.FormatInt(int64(i), 16) }
