// Package server is portside's core: the contract between engines, which own
// sockets, and handlers, which are protocols that never do I/O.
//
// An Engine accepts connections and calls a Handler with the bytes it reads;
// the Handler answers through Conn.Write, which queues and never blocks. The
// same Handler therefore runs unchanged under every engine: iterative, fork,
// goroutine or epoll.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// Handler is one service's reaction to its connections. An engine calls the
// methods for one connection one at a time, never two at once, in order:
// Open, then Data (and the optional callbacks below: Timer, Drained,
// ReadEOF, Drain) any number of times, then Close exactly once. That order
// of callbacks is the connection's own: a handler needs no lock for state
// only its callbacks touch. Handlers must not block: a handler that needs to
// wait hands the work to its own goroutine and answers later with
// Conn.Write.
//
// A panic in any callback closes that connection at once (queued output is
// dropped) with a *PanicError, logged and counted in Stats.HandlerPanics;
// the service goes on serving the others.
type Handler interface {
	// Open is called once a connection is accepted. It may write a banner.
	Open(c Conn)
	// Data is handed all unread input. It returns how many bytes it
	// consumed; the rest is kept and handed again, with what follows, on
	// the next call. in is only valid during the call. A non-nil error
	// closes the connection with that error as the reason.
	Data(c Conn, in []byte) (int, error)
	// Close is called exactly once when the connection is gone. err is nil
	// for a clean close (by the peer, or by Conn.Close), otherwise the
	// reason: ErrIdleTimeout, ErrSlowConsumer, an I/O error, ...
	Close(c Conn, err error)
}

// Conn is one connection as a handler sees it. Write, WriteString, Close,
// CloseWith, Queued, SetTimer, PauseRead, ResumeRead and NotifyDrained are
// safe to call from any goroutine; the other methods are meant for the
// handler's own calls.
type Conn interface {
	ID() uint64
	// LocalAddr and RemoteAddr are never nil: an address the engine could
	// not learn (the peer reset the connection before it was asked) is
	// UnknownAddr.
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
	// Write queues a copy of b for sending; the caller keeps b. It never
	// blocks. It returns ErrClosed once the connection is closing. Above
	// Limits.MaxQueue queued bytes the connection is closed as a slow
	// consumer.
	Write(b []byte) error
	// WriteString is Write for a string.
	WriteString(s string) error
	// WriteFile queues n bytes of f from offset off, sent after what is
	// already queued, with sendfile(2) where the engine can. It takes
	// ownership of f: the engine closes it once the bytes are sent or the
	// connection is gone, and also when WriteFile returns an error. To send
	// several ranges of one file, open it once per range.
	WriteFile(f *os.File, off, n int64) error
	// Close closes the connection once queued output is flushed. It is
	// safe to call more than once.
	Close() error
	// CloseWith is Close for a reason, as when Data returns err: the
	// handler's Close, the service's log and its counters see
	// &HandlerError{Err: err} (ErrInputTooLarge counts an input overflow).
	// It is for a handler that finds the fault outside its Data call, on a
	// goroutine of its own. After Close, or a close for another reason, it
	// does nothing.
	CloseWith(err error) error
	// Queued reports the bytes queued but not yet sent.
	Queued() int
	// SetTimer arms the connection's one timer: d from now the engine
	// calls the handler's Timer method (see TimerHandler) in the
	// connection's order of callbacks. Arming again replaces the deadline;
	// d <= 0 cancels. Timer is not called once the connection is closing.
	// For a handler without a Timer method it does nothing.
	// Engines keep timers without a goroutine or time.Timer each where
	// they can (epoll files them on its loop's wheel).
	SetTimer(d time.Duration)
	// PauseRead stops reading the connection until ResumeRead: no Data
	// call begins meanwhile (called from another goroutine, a Data call
	// already on its way may still come), and what the peer sends waits in
	// the kernel,
	// so TCP flow control pushes back on it. Unconsumed input is kept and
	// handed, with what follows, once reading resumes. The idle timeout
	// still applies. Pausing does not stack: one ResumeRead undoes any
	// number of PauseRead calls.
	PauseRead()
	ResumeRead()
	// NotifyDrained asks for one call of the handler's Drained method
	// (see DrainedHandler) once Queued() is at or below mark: at once,
	// after the current callback, if it already is. A handler that only
	// wants room to write passes Limits.LowWater(); one that waits for
	// something particular to be sent passes the level at which it will
	// have been (0: all of it). Asking again before the call replaces the
	// mark. For a handler without a Drained method it does nothing.
	NotifyDrained(mark int)
	// SetValue and Value hold per-connection protocol state.
	SetValue(v any)
	Value() any
}

// Optional abilities of a Handler. An engine checks for them with a type
// assertion, once per service.

// EOFHandler is implemented by handlers that keep working after the peer has
// shut its write side (a half-close). The engine stops reading and calls
// ReadEOF with the input left unconsumed; the handler must call c.Close when
// it has written all it owes. Without it the engine hands rest to nobody,
// flushes what is queued and closes.
type EOFHandler interface {
	ReadEOF(c Conn, rest []byte)
}

// Drainer is implemented by handlers that want a say in graceful shutdown.
// The engine pauses reading, as by Conn.PauseRead, and calls Drain on each
// open connection; the handler may write a goodbye and must call c.Close
// when done. A handler that needs more input to finish what it started (a
// request partly read) calls c.ResumeRead, in Drain or later, and Data
// comes as usual, unconsumed input first, until it closes. Without Drain the
// engine flushes what is queued and closes. Limits.DrainTimeout bounds both:
// what is still open then is closed with ErrShutdown.
type Drainer interface {
	Drain(c Conn)
}

// TimerHandler is implemented by handlers that arm Conn.SetTimer. Timer is
// called once per arming, when its deadline has passed, in the connection's
// order of callbacks (never during Data).
type TimerHandler interface {
	Timer(c Conn)
}

// DrainedHandler is implemented by handlers that ask Conn.NotifyDrained to
// be told when queued output has drained: to go on producing output they
// held back (a stalled pipeline, a slow member's backlog), or to resume
// reading they paused.
type DrainedHandler interface {
	Drained(c Conn)
}

// Spawner is implemented by handlers that run a goroutine of their own
// for each connection, as package stream does, and say so by returning
// true. An engine whose loop blocks in a system call while holding a
// processor (epoll, uring, select, poll) then lets such goroutines run
// before it blocks, rather than leave them waiting until the runtime takes
// the processor back; epoll also writes what they write while it sleeps on
// their own goroutine. For other
// handlers it does neither: goroutines they wake (a chat room's fan-out)
// gather more work while they wait, and it goes out in fewer writes.
type Spawner interface {
	SpawnsGoroutines() bool
}

// Spawns reports whether h is a Spawner that says it spawns goroutines.
func Spawns(h Handler) bool {
	sp, ok := h.(Spawner)
	return ok && sp.SpawnsGoroutines()
}

// ServiceHandler is implemented by handlers that need to know the service
// they serve: its limits in force (stream bounds its buffering by MaxInput),
// its logger or its counters. Service.Init, which every engine calls before
// its first connection, calls InitService once with the defaults filled in.
// A handler that implements it serves one service.
type ServiceHandler interface {
	InitService(s *Service)
}

// Base gives a handler that embeds it Open and Close that do nothing, for
// protocols that only need Data.
type Base struct{}

func (Base) Open(Conn)         {}
func (Base) Close(Conn, error) {}

// Refuser is implemented by protocols that can tell a peer why it is turned
// away (server full, too many connections from one address). The engine
// writes the returned bytes, if any, before closing the refused connection.
// Refuse must not keep a reference to anything but its return value.
type Refuser interface {
	Refuse(reason error) []byte
}

// Errors given to Handler.Close and counted in Stats.
var (
	ErrClosed        = errors.New("server: connection closed")
	ErrSlowConsumer  = errors.New("server: send queue exceeded")
	ErrInputTooLarge = errors.New("server: unconsumed input exceeds limit")
	ErrIdleTimeout   = errors.New("server: idle timeout")
	ErrShutdown      = errors.New("server: shut down before drained")
	ErrServerFull    = errors.New("server: too many connections")
	ErrTooManyFromIP = errors.New("server: too many connections from this address")
	ErrNoTLS         = errors.New("server: engine cannot serve TLS")
	ErrNoSharedState = errors.New("server: service may keep shared state between connections (it is not marked Stateless), which this engine cannot offer")
)

// Service is everything an engine needs to run one listener's connections.
type Service struct {
	Name    string // e.g. "echo", used in logs and metrics
	Handler Handler
	Limits  Limits
	// TLS, if set, wraps every connection. Engines that cannot serve TLS
	// refuse to start with ErrNoTLS.
	TLS *tls.Config
	// Stateless declares that the handler keeps nothing in memory across
	// connections (no rooms, caches or counters that one connection must
	// see of another), so that engines that split connections over
	// processes may run it; they refuse a service without it with
	// ErrNoSharedState. The default is the safe case: shared memory.
	Stateless bool
	// Logger gets the engine's and the core's lines, each naming the
	// service: give one that does not name it already. nil discards.
	Logger *slog.Logger
	Stats  *Stats // nil: counted into a private Stats

	initOnce sync.Once
	ipsOnce  sync.Once
	ips      perIP
	refusals refusalLog
}

// Engine runs a service's connections. Serve blocks until ctx is cancelled
// and the connections are drained (it then returns nil) or the listener
// fails. Serve closes ln.
type Engine interface {
	Serve(ctx context.Context, ln net.Listener, s *Service) error
}

// Init fills in a Service's defaults, once. Engines call it at the top of
// Serve; callers that read the limits in force may call it first.
func (s *Service) Init() { s.initOnce.Do(s.init) }

func (s *Service) init() {
	s.Limits = s.Limits.withDefaults()
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Stats == nil {
		s.Stats = new(Stats)
	}
	if s.Name == "" {
		s.Name = "service"
	}
	if h, ok := s.Handler.(ServiceHandler); ok {
		h.InitService(s)
	}
}

// Listener is implemented by engines that open listeners themselves: a fork
// child inherits its connection instead of binding. Callers that build
// services use Listen (below) rather than net.Listen, so that such engines
// get their say.
type Listener interface {
	Listen(ctx context.Context, network, addr, service string) (net.Listener, error)
}

// Listen opens the TCP listener for a service run by e: through e if it is a
// Listener, else with net.ListenConfig.
func Listen(ctx context.Context, e Engine, network, addr, service string) (net.Listener, error) {
	if l, ok := e.(Listener); ok {
		return l.Listen(ctx, network, addr, service)
	}
	var lc net.ListenConfig
	return lc.Listen(ctx, network, addr)
}
