package testkit

import (
	"bytes"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Peer is a test client on a TCP connection, as a person with nc would be:
// it keeps everything it receives, for a transcript, and lets the test
// wait for what it expects. Waits fail the test after Wait.
type Peer struct {
	t    *testing.T
	Name string
	Conn net.Conn
	Wait time.Duration // default 10 s

	mu    sync.Mutex
	got   bytes.Buffer
	seen  int    // bytes of got already matched by Expect
	reads []Read // when each read ended
	more  chan struct{}
	eof   chan struct{}
}

// Read records a read from the connection: the length of all received
// once it ended, and when.
type Read struct {
	End int
	At  time.Time
}

// Dial connects a Peer called name to addr; the connection is closed when
// the test ends.
func Dial(t *testing.T, addr, name string) *Peer {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return NewPeer(t, c, name)
}

// DialFrom is Dial from the local address from: 127.0.0.2 is another
// address of this host, as far as a server can tell.
func DialFrom(t *testing.T, from, addr, name string) *Peer {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return NewPeer(t, c, name)
}

// NewPeer makes a Peer called name of the connection c, which is closed
// when the test ends.
func NewPeer(t *testing.T, c net.Conn, name string) *Peer {
	p := &Peer{t: t, Name: name, Conn: c, Wait: 10 * time.Second, more: make(chan struct{}, 1), eof: make(chan struct{})}
	t.Cleanup(func() { c.Close() })
	go func() {
		defer close(p.eof)
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			p.mu.Lock()
			p.got.Write(buf[:n])
			p.reads = append(p.reads, Read{p.got.Len(), time.Now()})
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

// Send writes each line with a CRLF after it.
func (p *Peer) Send(lines ...string) {
	p.t.Helper()
	for _, l := range lines {
		p.Write(l + "\r\n")
	}
}

// Write writes s as it is, in one write.
func (p *Peer) Write(s string) {
	p.t.Helper()
	if _, err := p.Conn.Write([]byte(s)); err != nil {
		p.t.Fatalf("%s: send %q: %v", p.Name, s, err)
	}
}

// Expect waits until what p received since the last Expect holds want.
func (p *Peer) Expect(want string) {
	p.t.Helper()
	deadline := time.After(p.Wait)
	for {
		p.mu.Lock()
		all := p.got.String()
		i := strings.Index(all[p.seen:], want)
		if i >= 0 {
			p.seen += i + len(want)
		}
		p.mu.Unlock()
		if i >= 0 {
			return
		}
		select {
		case <-p.more:
		case <-p.eof:
			p.mu.Lock()
			all := p.got.String()
			p.mu.Unlock()
			if !strings.Contains(all[p.seen:], want) {
				p.t.Fatalf("%s: connection closed without %q; got:\n%s", p.Name, want, all[p.seen:])
			}
		case <-deadline:
			p.t.Fatalf("%s: no %q in %v; got:\n%s", p.Name, want, p.Wait, all[p.seen:])
		}
	}
}

// Closed waits for the server to close p's connection.
func (p *Peer) Closed() {
	p.t.Helper()
	select {
	case <-p.eof:
	case <-time.After(p.Wait):
		p.t.Fatalf("%s: still open after %v", p.Name, p.Wait)
	}
}

// Eventually waits until all p has received satisfies ok, without moving
// on from what Expect matched.
func (p *Peer) Eventually(ok func(string) bool) {
	p.t.Helper()
	deadline := time.After(p.Wait)
	for !ok(p.Transcript()) {
		select {
		case <-p.more:
		case <-p.eof:
			if !ok(p.Transcript()) {
				p.t.Fatalf("%s: closed before the expected output; got:\n%s", p.Name, p.Transcript())
			}
		case <-deadline:
			p.t.Fatalf("%s: not the expected output in %v; got:\n%s", p.Name, p.Wait, p.Transcript())
		}
	}
}

// Has reports whether p has received want, at any point.
func (p *Peer) Has(want string) bool { return strings.Contains(p.Transcript(), want) }

// Transcript is all p has received.
func (p *Peer) Transcript() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.got.String()
}

// Reads returns when each read so far ended.
func (p *Peer) Reads() []Read {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.reads)
}

// In makes p report its failures to t: for a Peer made in a test and used
// in its subtests.
func (p *Peer) In(t *testing.T) { p.t = t }

// DialTCP connects to addr, with every read and write due within
// deadline; the connection is closed when the test ends.
func DialTCP(t *testing.T, addr string, deadline time.Duration) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(deadline))
	return c.(*net.TCPConn)
}

// ReadN reads exactly n bytes from c.
func ReadN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v (got %q)", n, err, b)
	}
	return string(b)
}
