package httpd

import (
	"net"
	"testing"
)

// TestAuthKey: attempts are counted by IPv4 address, or by IPv6 /64.
func TestAuthKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::",
		"::1":                  "::",
	} {
		got := authKey(&net.TCPAddr{IP: net.ParseIP(in), Port: 1})
		if got.String() != want {
			t.Errorf("authKey(%s) = %s, want %s", in, got, want)
		}
	}
}
