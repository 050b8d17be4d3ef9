package chat

import (
	"testing"
	"time"

	"github.com/portside/portside/server"
	"github.com/portside/portside/server/servertest"
)

var fuzzSeeds = []string{
	"alice\r\nhello\r\n/join dev\r\n/me waves\r\n/who\r\n/rooms\r\n/nick bob\r\n/msg bob hi\r\n/part\r\n/history 3\r\n/quit\r\n",
	"CAP LS 302\r\nNICK al\r\nUSER al 0 * :Al\r\nCAP REQ :server-time message-tags\r\nCAP END\r\nJOIN #a,#b\r\nPRIVMSG #a :hi\r\nTOPIC #a :t\r\nWHO #a\r\nWHOIS al\r\nMODE #a\r\nNAMES #a\r\nLIST\r\nPART #a\r\nQUIT :bye\r\n",
	"NICK x\r\nUSER x 0 * :x\r\nJOIN 0\r\nPRIVMSG x :\x01ACTION y\x01\r\nAWAY :z\r\nISON x\r\nUSERHOST x\r\nNICK y\r\n",
	"@a=b :src PRIVMSG #x :y\r\n",
	"bob\n\xff\xfe\n//x\n/nick\n",
}

// FuzzHandler drives whole connections through both doors: nothing may
// panic, input split anywhere must not matter to a person's door, and a
// closed connection must leave nothing behind in the hub.
func FuzzHandler(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		var hubs []*Hub
		servertest.RunEach(t, func() server.Handler {
			hub := New(Options{GreetDelay: -1, FloodRate: -1, Now: fixedNow})
			hubs = append(hubs, hub)
			return hub.Handler()
		}, in, servertest.Splits(servertest.Chunks(int(step%16)+1)))
		for _, hub := range hubs {
			if m, _ := hub.Counts(); m != 0 {
				t.Fatalf("%d members left after the connection closed", m)
			}
		}
	})
}

func fixedNow() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
