package natsbus

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// proxy forwards TCP connections to target, and plays a bad network on the
// traffic from its clients: black-holed, it swallows it, as a network that
// lost its route does, until cut; held, it keeps it until let go, as a
// slow network does.
type proxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	conns     []net.Conn
	hole      bool
	swallowed int           // lobby publishes lost in the hole
	flow      chan struct{} // closed while traffic flows
	watch     []byte        // signalled on seen when held traffic holds it
	seen      chan struct{}
	at        bool // hold from the traffic that holds watch on, not before
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, flow: make(chan struct{}), seen: make(chan struct{}, 1)}
	close(p.flow)
	t.Cleanup(func() {
		ln.Close()
		p.letGo()
		p.cut()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go p.pipe(c, s, true)
			go p.pipe(s, c, false)
		}
	}()
	return p
}

func (p *proxy) pipe(from, to net.Conn, up bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if err != nil {
			to.Close()
			return
		}
		if up {
			p.mu.Lock()
			hole, flow, watch := p.hole, p.flow, p.watch
			if hole {
				p.swallowed += bytes.Count(buf[:n], []byte("chat.room.lobby"))
			}
			if p.at && bytes.Contains(buf[:n], watch) {
				p.flow, p.at = make(chan struct{}), false
				flow = p.flow
			}
			p.mu.Unlock()
			if hole {
				continue
			}
			if watch != nil && bytes.Contains(buf[:n], watch) {
				select {
				case p.seen <- struct{}{}:
				default:
				}
			}
			<-flow
		}
		if _, err := to.Write(buf[:n]); err != nil {
			from.Close()
			return
		}
	}
}

// lost reports how many publishes to the lobby the black hole swallowed.
func (p *proxy) lost() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.swallowed
}

func (p *proxy) blackHole(on bool) {
	p.mu.Lock()
	p.hole = on
	p.mu.Unlock()
}

// cut closes every connection, as the network noticed at last.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// hold keeps what clients send from now on, and signals once it holds
// watch.
func (p *proxy) hold(watch string) {
	p.mu.Lock()
	p.flow = make(chan struct{})
	p.watch = []byte(watch)
	p.mu.Unlock()
}

// holdAt lets what clients send flow until it holds watch, and holds it
// and what follows from there; it signals as hold does.
func (p *proxy) holdAt(watch string) {
	p.mu.Lock()
	p.watch, p.at = []byte(watch), true
	p.mu.Unlock()
}

// waitHeld waits until the proxy holds what hold was told to watch for.
func (p *proxy) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-p.seen:
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy saw nothing of what it watches for")
	}
}

func (p *proxy) letGo() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.flow:
	default:
		close(p.flow)
	}
	p.watch, p.at = nil, false
}

func (p *proxy) url() string { return "nats://" + p.ln.Addr().String() }
