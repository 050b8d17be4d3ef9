package chat

import (
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/portside/portside/server"
)

// fakeConn is a server.Conn without a socket, for driving the Handler with
// byte slices. Like a real one, it may be written from any goroutine (the
// hub's fan-out, when the hub runs).
type fakeConn struct {
	mu      sync.Mutex
	out     []byte
	discard bool // forget what is written, as an engine does once it is sent
	value   any
	closed  bool
}

var fakeAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}

func (c *fakeConn) ID() uint64           { return 1 }
func (c *fakeConn) LocalAddr() net.Addr  { return fakeAddr }
func (c *fakeConn) RemoteAddr() net.Addr { return fakeAddr }
func (c *fakeConn) Write(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return server.ErrClosed
	}
	if !c.discard {
		c.out = append(c.out, b...)
	}
	return nil
}
func (c *fakeConn) WriteFile(f *os.File, off, n int64) error { f.Close(); return nil }
func (c *fakeConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}
func (c *fakeConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}
func (c *fakeConn) Queued() int                { return 0 }
func (c *fakeConn) WriteString(s string) error { return c.Write([]byte(s)) }
func (c *fakeConn) SetTimer(time.Duration)     {}
func (c *fakeConn) PauseRead()                 {}
func (c *fakeConn) ResumeRead()                {}
func (c *fakeConn) NotifyDrained()             {}
func (c *fakeConn) SetValue(v any)             { c.value = v }
func (c *fakeConn) Value() any                 { return c.value }

// feed hands in to h as an engine would, in chunks of size bytes, and
// closes the connection at the end.
func feed(h *Handler, in []byte, size int) *fakeConn {
	c := new(fakeConn)
	h.Open(c)
	var buf []byte
	for i := 0; i < len(in) && !c.isClosed(); i += size {
		buf = append(buf, in[i:min(i+size, len(in))]...)
		n, err := h.Data(c, buf)
		if err != nil {
			c.Close()
			break
		}
		buf = buf[n:]
	}
	h.Close(c, nil)
	return c
}

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
		hub := New(Options{GreetDelay: -1, FloodRate: -1, Now: fixedNow})
		h := hub.Handler()
		whole := feed(h, in, len(in)+1)
		if m, _ := hub.Counts(); m != 0 {
			t.Fatalf("%d members left after the connection closed", m)
		}
		hub2 := New(Options{GreetDelay: -1, FloodRate: -1, Now: fixedNow})
		split := feed(hub2.Handler(), in, int(step%16)+1)
		if m, _ := hub2.Counts(); m != 0 {
			t.Fatalf("%d members left after the connection closed", m)
		}
		if string(whole.out) != string(split.out) {
			t.Fatalf("output differs when input is split:\nwhole:\n%q\nsplit:\n%q", whole.out, split.out)
		}
	})
}

func fixedNow() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
