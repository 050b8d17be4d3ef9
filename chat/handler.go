package chat

import (
	"bytes"
	"errors"
	"net"
	"sync/atomic"

	"github.com/portside/portside/proto/irc"
	"github.com/portside/portside/proto/line"
	"github.com/portside/portside/server"
)

// Handler is the chat service's server.Handler: one port for both doors.
// The first line a client sends decides: IRC clients start with CAP, NICK,
// PASS or USER; anything else is a person typing their name.
type Handler struct {
	hub *Hub
}

// Handler returns the server.Handler of the hub's line and IRC doors. Its
// service must not be marked server.Service.Stateless: members of one room
// talk through the hub's memory.
func (h *Hub) Handler() *Handler { return &Handler{hub: h} }

// maxLine bounds one line of either door: IRC's tags and body.
const maxLine = irc.MaxTags + irc.MaxLine

// ErrNotChat closes a connection whose first line is longer than any door
// allows.
var ErrNotChat = errors.New("chat: first line too long")

// conn is what a door does with a connection once the first line chose it.
type conn interface {
	data(in []byte) (int, error)
	eof(rest []byte)
	closed(err error)
	drain()
	timer() // the connection's timer fired: a password's turn came
}

// sniff is a connection's state until its first line.
type sniff struct {
	state atomic.Int32 // one of the sniff* constants
	c     server.Conn
	since int64 // unix nanoseconds it opened, for RegisterTimeout
}

const (
	sniffWaiting int32 = iota
	sniffGreeted       // asked for a name: a person, probably
	sniffDecided       // the client spoke first
	sniffRefused       // too many connections from its address: closing
)

// late closes a connection that said nothing useful in time, in words both
// a person and an IRC client understand.
func (s *sniff) late(reason string) {
	s.c.Write([]byte("ERROR :Closing Link: " + reason + "\r\n"))
	s.c.Close()
}

const greeting = "Welcome to portside chat. What is your name?\r\n"

// Open implements server.Handler.
func (h *Handler) Open(c server.Conn) {
	now := h.hub.o.Now().UnixNano()
	s := &sniff{c: c, since: now}
	c.SetValue(s)
	if err := h.hub.AdmitConn(Host(c.RemoteAddr())); err != nil {
		s.state.Store(sniffRefused)
		c.Write([]byte("ERROR :Too many connections from your address, try again later\r\n"))
		c.Close()
		return
	}
	h.hub.arrive(s, now)
	d := h.hub.o.GreetDelay
	if d < 0 {
		s.state.Store(sniffGreeted)
		c.Write([]byte(greeting))
		return
	}
	c.SetTimer(d) // Timer greets
}

// Timer implements server.TimerHandler. The connection's timer serves one
// wait at a time: the greeting, until the first line; then the door's
// (a password's turn).
func (h *Handler) Timer(c server.Conn) {
	switch v := c.Value().(type) {
	case conn:
		v.timer()
	case *sniff:
		if v.state.CompareAndSwap(sniffWaiting, sniffGreeted) {
			c.Write([]byte(greeting))
		}
	}
}

// Data implements server.Handler.
func (h *Handler) Data(c server.Conn, in []byte) (int, error) {
	switch v := c.Value().(type) {
	case conn:
		return v.data(in)
	case *sniff:
		if v.state.Load() == sniffRefused {
			return len(in), nil
		}
		if v.state.CompareAndSwap(sniffWaiting, sniffDecided) {
			c.SetTimer(0)
		}
		i := bytes.IndexByte(in, '\n')
		if i < 0 {
			if len(in) > maxLine {
				return 0, ErrNotChat
			}
			return 0, nil
		}
		var d conn
		if isIRC(in[:i]) {
			d = h.hub.newIRC(c, v.since)
		} else {
			d = h.hub.newLine(c, v.since)
		}
		h.hub.settle(v)
		c.SetValue(d)
		return d.data(in)
	}
	return len(in), nil
}

// isIRC reports whether a first line is an IRC client's: a registration
// command with parameters. A person's name has no space, so "NICK alice"
// cannot be one.
func isIRC(first []byte) bool {
	if len(first) > 0 && first[0] == '@' {
		return true
	}
	word, rest, ok := bytes.Cut(bytes.TrimSpace(first), []byte(" "))
	if !ok || len(bytes.TrimSpace(rest)) == 0 {
		return false
	}
	switch string(bytes.ToUpper(word)) {
	case "CAP", "NICK", "PASS", "USER":
		return true
	}
	return false
}

// Close implements server.Handler.
func (h *Handler) Close(c server.Conn, err error) {
	switch v := c.Value().(type) {
	case conn:
		v.closed(err)
	case *sniff:
		if v.state.Load() == sniffRefused {
			return // never counted
		}
		h.hub.settle(v)
	}
	h.hub.ReleaseConn(Host(c.RemoteAddr()))
}

// ReadEOF implements server.EOFHandler: a client that shut its write side
// after its last line still has those lines handled, and their answers
// sent, even those that wait for the hub (see Gate).
func (h *Handler) ReadEOF(c server.Conn, rest []byte) {
	if v, ok := c.Value().(conn); ok {
		v.eof(rest)
		return
	}
	c.Close()
}

// Drain implements server.Drainer: each door says goodbye its own way.
func (h *Handler) Drain(c server.Conn) {
	if v, ok := c.Value().(conn); ok {
		v.drain()
		return
	}
	c.Close()
}

// Refuse implements server.Refuser, in words both a person and an IRC
// client understand.
func (h *Handler) Refuse(why error) []byte {
	return []byte("ERROR :Server full, try again later (" + why.Error() + ")\r\n")
}

// reason is the words peers see when a member's connection ends for err.
func reason(err error) string {
	switch {
	case err == nil:
		return "connection closed"
	case errors.Is(err, server.ErrSlowConsumer):
		return "send queue exceeded"
	case errors.Is(err, server.ErrIdleTimeout):
		return "idle timeout"
	case errors.Is(err, server.ErrShutdown):
		return "server shutting down"
	case errors.Is(err, server.ErrInputTooLarge), errors.Is(err, line.ErrTooLong), errors.Is(err, irc.ErrTooLong):
		return "line too long"
	}
	var he *server.HandlerError
	if errors.As(err, &he) {
		return he.Err.Error()
	}
	return "connection reset"
}

// quitReason is why m is leaving: what the hub or the client said, else
// what the engine reports.
func quitReason(m *Member, err error) string {
	if r := m.gone.Load(); r != nil {
		return *r
	}
	return reason(err)
}

// Host is the text form of a peer's IP address, as in a member's
// user@host.
func Host(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	if a == nil {
		return "unknown"
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// foldNick is the key nicks are unique by.
func foldNick(n string) string { return irc.Fold(n) }

var (
	_ server.TimerHandler = (*Handler)(nil)
	_ server.Drainer      = (*Handler)(nil)
	_ server.EOFHandler   = (*Handler)(nil)
	_ server.Refuser      = (*Handler)(nil)
)
