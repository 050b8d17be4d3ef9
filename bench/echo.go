package bench

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
)

// session is one connection's protocol: what to send, and how to check what
// comes back. send and feed may run on different goroutines (open loop), so
// they keep to separate fields.
type session interface {
	reset()       // a new connection
	bufSize() int // the read buffer it wants
	// send writes the next k requests.
	send(c net.Conn, k int) error
	// feed checks received bytes and calls the worker's onReply once per
	// complete reply. It returns kindOK to go on, kindAgain when the
	// server ended the connection cleanly, or the kind of a fault that
	// breaks the connection.
	feed(b []byte) kind
	// eof is told the server closed; it reports whether that completed a
	// reply (an HTTP body delimited by the close).
	eof() bool
}

// The echo stream is a fixed random pattern with a prime period, read from a
// different offset by each connection: every message is a distinct window of
// it, so a reply that is short, altered, reordered or another connection's
// shows as a mismatch, and checking it is one bytes.Equal with no
// allocation.
const echoPeriod = 65521

// udpHeader is the sequence number at the start of each UDP datagram: the
// only way to tell a lost datagram from a late one.
const udpHeader = 8

type echoPlan struct {
	pat   []byte
	size  int
	depth int
	udp   bool
}

func newEchoPlan(cfg *Config) *echoPlan {
	p := &echoPlan{size: cfg.Size, depth: cfg.Pipeline, udp: cfg.UDP}
	p.pat = make([]byte, echoPeriod+cfg.Size*cfg.Pipeline)
	rng := rand.New(rand.NewPCG(862, 7007))
	for i := range echoPeriod {
		p.pat[i] = byte(rng.Uint32())
	}
	for i := echoPeriod; i < len(p.pat); i++ {
		p.pat[i] = p.pat[i-echoPeriod]
	}
	return p
}

func (p *echoPlan) session(w *worker) session {
	start := int64(w.id) * 7919 % echoPeriod
	if p.udp {
		return &echoUDP{p: p, w: w, start: start, sbuf: make([]byte, p.size)}
	}
	return &echoTCP{p: p, w: w, start: start}
}

type echoTCP struct {
	p     *echoPlan
	w     *worker
	start int64
	sent  int64 // stream offset of the next byte to send (writer's)
	recv  int64 // stream offset of the next byte expected (reader's)
	inMsg int   // bytes of the current reply received
	bad   bool  // the current reply has a wrong byte
}

func (s *echoTCP) reset() {
	s.sent, s.recv, s.inMsg, s.bad = s.start, s.start, 0, false
}

func (s *echoTCP) bufSize() int { return min(max(s.p.size*s.p.depth, 512), 64<<10) }

func (s *echoTCP) send(c net.Conn, k int) error {
	off := int(s.sent % echoPeriod)
	n := k * s.p.size
	s.sent += int64(n)
	_, err := c.Write(s.p.pat[off : off+n])
	return err
}

func (s *echoTCP) feed(b []byte) kind {
	size := s.p.size
	for len(b) > 0 {
		if s.w.owed() == 0 {
			return kindMismatch // bytes nobody sent
		}
		off := int(s.recv % echoPeriod)
		m := min(len(b), size-s.inMsg)
		if !bytes.Equal(b[:m], s.p.pat[off:off+m]) {
			s.bad = true
		}
		b = b[m:]
		s.recv += int64(m)
		s.inMsg += m
		if s.inMsg == size {
			k := kindOK
			if s.bad {
				k = kindMismatch
			}
			s.inMsg, s.bad = 0, false
			s.w.onReply(k)
		}
	}
	return kindOK
}

func (s *echoTCP) eof() bool { return false }

type echoUDP struct {
	p     *echoPlan
	w     *worker
	start int64
	seq   uint64 // next to send (writer's)
	next  uint64 // next expected (reader's)
	sbuf  []byte
}

func (s *echoUDP) reset() { s.seq, s.next = 0, 0 }

func (s *echoUDP) bufSize() int { return s.p.size + 1 }

func (s *echoUDP) payload(seq uint64) []byte {
	off := (s.start + int64(seq%echoPeriod)*int64(s.p.size)) % echoPeriod
	return s.p.pat[off : off+int64(s.p.size-udpHeader)]
}

func (s *echoUDP) send(c net.Conn, k int) error {
	for range k {
		binary.BigEndian.PutUint64(s.sbuf, s.seq)
		copy(s.sbuf[udpHeader:], s.payload(s.seq))
		s.seq++
		if _, err := c.Write(s.sbuf); err != nil {
			return err
		}
	}
	return nil
}

// feed gets one datagram.
func (s *echoUDP) feed(b []byte) kind {
	if len(b) < udpHeader {
		if s.w.owed() > 0 {
			s.next++
			s.w.onReply(kindMismatch)
		}
		return kindOK
	}
	seq := binary.BigEndian.Uint64(b)
	if seq < s.next {
		return kindOK // late, already counted lost
	}
	owed := uint64(s.w.owed())
	if seq-s.next >= owed {
		return kindMismatch // never sent on this socket
	}
	for ; s.next < seq; s.next++ {
		s.w.onReply(kindLost)
	}
	k := kindOK
	if len(b) != s.p.size || !bytes.Equal(b[udpHeader:], s.payload(seq)) {
		k = kindMismatch
	}
	s.next++
	s.w.onReply(k)
	return kindOK
}

func (s *echoUDP) eof() bool { return false }
