package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts one service's connections. Engines update it through the
// Service helpers below; anyone may read it at any time.
type Stats struct {
	ConnsOpen      atomic.Int64
	ConnsTotal     atomic.Int64 // accepted and admitted
	ConnsRefused   atomic.Int64 // turned away by MaxConns, MaxConnsPerIP or the engine (TurnAway)
	BytesIn        atomic.Int64
	BytesOut       atomic.Int64
	HandlerErrors  atomic.Int64 // closes caused by an error from Handler.Data
	HandlerPanics  atomic.Int64 // panics recovered from handler callbacks; each closed its connection
	SlowConsumers  atomic.Int64 // closed for exceeding MaxQueue
	InputOverflows atomic.Int64 // closed for exceeding MaxInput
	IdleTimeouts   atomic.Int64
}

// perIP counts open connections by remote IP, for Limits.MaxConnsPerIP.
type perIP struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *Service) perIP() *perIP {
	s.ipsOnce.Do(func() { s.ips.n = make(map[string]int) })
	return &s.ips
}

func ipOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// Admit decides whether a freshly accepted connection may be served. On nil
// the connection is counted open and the engine must call Closed for it
// later; otherwise the error is the reason to give the peer (see Refusal).
func (s *Service) Admit(remote net.Addr) error {
	if s.Limits.MaxConns > 0 && s.Stats.ConnsOpen.Load() >= int64(s.Limits.MaxConns) {
		s.refused(ErrServerFull, remote)
		return ErrServerFull
	}
	if s.Limits.MaxConnsPerIP > 0 && known(remote) {
		p := s.perIP()
		ip := ipOf(remote)
		p.mu.Lock()
		if p.n[ip] >= s.Limits.MaxConnsPerIP {
			p.mu.Unlock()
			s.refused(ErrTooManyFromIP, remote)
			return ErrTooManyFromIP
		}
		p.n[ip]++
		p.mu.Unlock()
	}
	s.Stats.ConnsOpen.Add(1)
	s.Stats.ConnsTotal.Add(1)
	return nil
}

// TurnAway counts and logs a connection the engine turns away for a reason
// of its own, one no limit names (a descriptor its readiness call cannot
// watch), as Admit does for the limits, and returns what to write to the
// peer (see Refusal). The connection was never admitted: no Closed follows.
func (s *Service) TurnAway(reason error, remote net.Addr) []byte {
	s.refused(reason, remote)
	return s.Refusal(reason)
}

// refused counts a connection turned away, and logs it at warn level: at
// most once a second, saying how many were refused since the last line, so
// a flood of connections cannot flood the log.
func (s *Service) refused(reason error, remote net.Addr) {
	s.Stats.ConnsRefused.Add(1)
	now := time.Now().UnixNano()
	l := &s.refusals
	l.mu.Lock()
	l.n++
	if l.last != 0 && now-l.last < int64(time.Second) {
		l.mu.Unlock()
		return
	}
	n := l.n
	l.n, l.last = 0, now
	l.mu.Unlock()
	s.Logger.Warn("connection refused", "service", s.Name, "reason", reason,
		"remote_addr", addrString(remote), "refused", n)
}

// refusalLog is the state of the refusals' log lines.
type refusalLog struct {
	mu   sync.Mutex
	last int64 // unix ns of the last line
	n    int64 // refused since
}

// Refusal is what to write to a peer turned away for reason before closing
// it: the handler's words if it is a Refuser, else nothing.
func (s *Service) Refusal(reason error) []byte {
	if r, ok := s.Handler.(Refuser); ok {
		return s.refuse(r, reason)
	}
	return nil
}

// refuse calls Refuse, for whose panic the peer gets no words.
func (s *Service) refuse(r Refuser, reason error) (msg []byte) {
	defer func() {
		if v := recover(); v != nil {
			s.Stats.HandlerPanics.Add(1)
			s.Logger.Error("handler panic in Refuse", "service", s.Name, "panic", fmt.Sprint(v))
			s.Logger.Debug("handler panic in Refuse: stack", "service", s.Name, "stack", string(debug.Stack()))
			msg = nil
		}
	}()
	return r.Refuse(reason)
}

// Closed is called by an engine exactly once per admitted connection, when it
// is gone: it counts and logs the reason and calls Handler.Close.
func (s *Service) Closed(c Conn, err error) {
	s.Stats.ConnsOpen.Add(-1)
	if s.Limits.MaxConnsPerIP > 0 && known(c.RemoteAddr()) {
		p := s.perIP()
		ip := ipOf(c.RemoteAddr())
		p.mu.Lock()
		if p.n[ip]--; p.n[ip] <= 0 {
			delete(p.n, ip)
		}
		p.mu.Unlock()
	}
	level := slog.LevelDebug
	switch {
	case err == nil:
	case errors.Is(err, ErrSlowConsumer):
		s.Stats.SlowConsumers.Add(1)
		level = slog.LevelWarn
	case errors.Is(err, ErrInputTooLarge):
		s.Stats.InputOverflows.Add(1)
		level = slog.LevelWarn
	case errors.Is(err, ErrIdleTimeout):
		s.Stats.IdleTimeouts.Add(1)
		level = slog.LevelInfo
	case errors.As(err, new(*HandlerError)):
		s.Stats.HandlerErrors.Add(1)
		level = slog.LevelInfo
	case errors.As(err, new(*PanicError)):
		s.Stats.HandlerPanics.Add(1)
		level = slog.LevelError
	}
	if s.Logger.Enabled(context.Background(), level) {
		s.Logger.Log(context.Background(), level, "connection closed", "service", s.Name,
			"conn_id", c.ID(), "remote_addr", addrString(c.RemoteAddr()), "reason", reasonString(err))
	}
	var pe *PanicError
	if errors.As(err, &pe) {
		s.logStack(c, pe.Stack)
	}
	defer func() {
		if v := recover(); v != nil {
			s.Stats.HandlerPanics.Add(1)
			s.Logger.Error("handler panic in Close", "service", s.Name, "conn_id", c.ID(),
				"panic", fmt.Sprint(v))
			s.logStack(c, debug.Stack())
		}
	}()
	s.Handler.Close(c, err)
}

func (s *Service) logStack(c Conn, stack []byte) {
	s.Logger.Debug("handler panic: stack", "service", s.Name, "conn_id", c.ID(), "stack", string(stack))
}

// PanicError is the close reason of a connection whose handler panicked in
// a callback. Engines make it with Recovered.
type PanicError struct {
	Value any    // what the handler panicked with
	Stack []byte // the panicking goroutine's stack
}

func (e *PanicError) Error() string { return fmt.Sprintf("server: handler panic: %v", e.Value) }

// Recovered turns a value recovered from a handler callback into the close
// reason an engine gives Closed, which logs it (one error line; the stack at
// debug level) and counts it. Call it in the deferred function that
// recovered, so that the stack is the panic's.
func Recovered(v any) error {
	return &PanicError{Value: v, Stack: debug.Stack()}
}

// HandlerError wraps an error returned by Handler.Data, so that it is counted
// apart from I/O errors. Engines wrap with it; handlers see it in Close and
// can unwrap it.
type HandlerError struct{ Err error }

func (e *HandlerError) Error() string { return e.Err.Error() }
func (e *HandlerError) Unwrap() error { return e.Err }

func addrString(a net.Addr) string {
	if a == nil {
		return UnknownAddr.String()
	}
	return a.String()
}

func reasonString(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}

// NextID returns a process-wide unique connection ID.
func NextID() uint64 { return lastID.Add(1) }

var lastID atomic.Uint64

// ConnBase holds the parts of a Conn that every engine implements the same
// way. Engines embed it.
type ConnBase struct {
	id            uint64
	local, remote net.Addr
	value         any
}

// InitBase sets the identity of a new connection. A nil address, which is
// what a socket reset by its peer before it was asked reports, is replaced
// by UnknownAddr, so that handlers can always call String.
func (b *ConnBase) InitBase(local, remote net.Addr) {
	b.id = NextID()
	if local == nil {
		local = UnknownAddr
	}
	if remote == nil {
		remote = UnknownAddr
	}
	b.local, b.remote = local, remote
}

// UnknownAddr stands for an address an engine could not learn.
var UnknownAddr net.Addr = unknownAddr{}

type unknownAddr struct{}

func (unknownAddr) Network() string { return "tcp" }
func (unknownAddr) String() string  { return "unknown" }

// known reports whether a is a real address, one a per-IP limit can count.
func known(a net.Addr) bool { return a != nil && a != UnknownAddr }

func (b *ConnBase) ID() uint64           { return b.id }
func (b *ConnBase) LocalAddr() net.Addr  { return b.local }
func (b *ConnBase) RemoteAddr() net.Addr { return b.remote }
func (b *ConnBase) SetValue(v any)       { b.value = v }
func (b *ConnBase) Value() any           { return b.value }
