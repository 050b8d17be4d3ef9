// Package fork is portside's process-per-connection engine, the classic
// forking server of the network-programming guides.
//
// The parent process accepts. For each connection it starts a child: the
// same executable, with the same arguments and environment plus
// PORTSIDE_FORK_SERVICE naming the service, and the accepted socket as its
// first inherited file (fd 3). The child runs the same program, which builds
// the same services and opens their listeners with server.Listen; the engine,
// a server.Listener, then hands the child its one inherited connection
// instead of a bound socket. The child serves that connection with the same
// handler (the goroutine engine's per-connection code, goroutine.ServeConn)
// and its Serve calls return, so the program ends and the child exits.
//
// A program runs under this engine unchanged if it opens listeners with
// server.Listen, waits for every Serve to return, and, when IsChild reports
// true, skips work that belongs to the parent alone (banners, a metrics
// listener).
//
// What the model gives: a crash (panic, os.Exit) in a child loses only that
// child's connection, and costs one error line in the parent's log: the
// parent reads each child's standard error, passes its lines on (see
// Engine.Stderr) and turns a Go crash report into that line, with the stack
// at debug level. What it costs: a process start per connection, and no
// memory shared between connections, so it runs only services marked
// server.Service.Stateless and refuses others with server.ErrNoSharedState.
// A handler's panic in a child is recovered as under any engine: the child
// logs it, closes its connection and exits cleanly; the count reaches the
// parent with the child's other counters. TLS works: each child does its own
// handshake, with the configuration the program builds again in the child;
// a program that makes its certificate at start (a self-signed one) makes
// it in the parent and hands it down in Engine.Env, so that every child
// serves the one certificate the parent logged.
//
// Counting: the parent counts connections (open, total, refused). Bytes,
// handler errors and panics, slow consumers, input overflows and idle timeouts are
// counted in the child and added to the parent's Stats when the child exits;
// a child that crashes reports nothing.
package fork

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/portside/portside/engine/goroutine"
	"github.com/portside/portside/server"
)

// EnvService is the environment variable that marks a child process and
// names the service whose connection it inherited.
const EnvService = "PORTSIDE_FORK_SERVICE"

// envRemote carries the peer's address, as the parent's accept learnt it,
// to the child: a socket whose peer has already reset it no longer has one
// to give the child.
const envRemote = "PORTSIDE_FORK_REMOTE"

// Inherited file descriptors of a child: the connection and the pipe on
// which it reports its counters when done.
const (
	connFD  = 3
	statsFD = 4
)

// killGrace is how long children get, past the drain timeout, to exit on
// their own after SIGTERM before they are killed.
const killGrace = time.Second

// IsChild reports whether this process is a child started by the engine to
// serve one connection.
func IsChild() bool { return os.Getenv(EnvService) != "" }

// Engine runs each connection in a child process. The zero value is ready to
// use.
type Engine struct {
	// MaxChildren bounds the children alive at once, per service; peers
	// beyond it are refused like peers beyond Limits.MaxConns, which also
	// applies. Zero means Limits.MaxConns alone.
	MaxChildren int
	// Stderr receives, line by line, what children write to their standard
	// error (their logs); nil means os.Stderr. A child that crashes is
	// reported in one error line of the service's log instead: its panic
	// or fatal error with the stack goes to the log at debug level.
	Stderr io.Writer
	// Env is added to each child's environment ("KEY=value"): what the
	// parent decided at start that the children must share, such as the
	// self-signed certificate it made. Set it before Serve.
	Env []string

	errMu sync.Mutex // one child's line at a time on Stderr
}

// Listen opens a service's listener. In the parent it binds addr. In a
// child it returns, for the service the child was started for, a listener
// that yields the inherited connection once; for any other service, one that
// yields nothing, so the child serves only its own connection.
func (e *Engine) Listen(ctx context.Context, network, addr, service string) (net.Listener, error) {
	if !IsChild() {
		var lc net.ListenConfig
		return lc.Listen(ctx, network, addr)
	}
	if service != os.Getenv(EnvService) {
		return newIdleListener(), nil
	}
	inherit.once.Do(func() {
		f := os.NewFile(connFD, "portside-fork-conn")
		if f == nil {
			inherit.err = errors.New("fork: no inherited connection on fd 3")
			return
		}
		nc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			inherit.err = fmt.Errorf("fork: inherited connection: %w", err)
			return
		}
		inherit.ln = newOneShot(withRemote(nc, os.Getenv(envRemote)))
	})
	if inherit.err != nil {
		return nil, inherit.err
	}
	return inherit.ln, nil
}

// withRemote gives nc the peer's address the parent passed down if nc has
// none of its own (its peer reset it before the child asked).
func withRemote(nc net.Conn, remote string) net.Conn {
	if nc.RemoteAddr() != nil {
		return nc
	}
	ap, err := netip.ParseAddrPort(remote)
	tc, ok := nc.(*net.TCPConn)
	if err != nil || !ok {
		return nc // the engine's Conn reports server.UnknownAddr
	}
	return &addrConn{TCPConn: tc, remote: net.TCPAddrFromAddrPort(ap)}
}

// addrConn is a TCP connection with the address its peer had.
type addrConn struct {
	*net.TCPConn
	remote net.Addr
}

func (c *addrConn) RemoteAddr() net.Addr { return c.remote }

// inherit holds the child's connection, taken from fd 3 once.
var inherit struct {
	once sync.Once
	ln   *oneShot
	err  error
}

// childDone is closed when a child has served its connection, so that the
// Serve calls of the services it does not serve return too.
var (
	childDone     = make(chan struct{})
	childDoneOnce sync.Once
)

// Serve runs the service. In the parent it accepts until ctx is cancelled,
// starting a child per connection; it then stops accepting, sends SIGTERM to
// every child, waits for them up to Limits.DrainTimeout (plus a second),
// kills those left and returns nil once all are reaped. In a child it
// serves the inherited connection and returns when it is closed.
func (e *Engine) Serve(ctx context.Context, ln net.Listener, s *server.Service) error {
	s.Init()
	if !s.Stateless {
		ln.Close()
		return fmt.Errorf("fork: service %s: %w; the epoll, poll, select, goroutine and iterative engines can run it",
			s.Name, server.ErrNoSharedState)
	}
	if IsChild() {
		return serveChild(ctx, ln, s)
	}
	return e.serveParent(ctx, ln, s)
}

func serveChild(ctx context.Context, ln net.Listener, s *server.Service) error {
	switch ln := ln.(type) {
	case *idleListener:
		defer ln.Close()
		select {
		case <-childDone:
		case <-ctx.Done():
		case <-ln.closed:
		}
		return nil
	case *oneShot:
		defer childDoneOnce.Do(func() { close(childDone) })
		defer ln.Close()
		nc := ln.take()
		if nc == nil {
			return nil // closed before it was served
		}
		// The parent admitted the connection; the child still counts it so
		// that its counters and the handler's view are those of any engine.
		if reason := s.Admit(nc.RemoteAddr()); reason != nil {
			goroutine.Refuse(nc, s, reason)
		} else {
			goroutine.ServeConn(ctx, nc, s)
		}
		report(s.Stats)
		return nil
	default:
		ln.Close()
		return errors.New("fork: a child serves only listeners from Engine.Listen")
	}
}

// counters is what a child reports to the parent when it is done.
type counters struct {
	BytesIn, BytesOut, HandlerErrors, HandlerPanics, SlowConsumers, InputOverflows, IdleTimeouts int64
}

func report(st *server.Stats) {
	f := os.NewFile(statsFD, "portside-fork-stats")
	if f == nil {
		return
	}
	defer f.Close()
	json.NewEncoder(f).Encode(counters{
		BytesIn: st.BytesIn.Load(), BytesOut: st.BytesOut.Load(),
		HandlerErrors: st.HandlerErrors.Load(), HandlerPanics: st.HandlerPanics.Load(),
		SlowConsumers:  st.SlowConsumers.Load(),
		InputOverflows: st.InputOverflows.Load(), IdleTimeouts: st.IdleTimeouts.Load(),
	})
}

func (c counters) addTo(st *server.Stats) {
	st.BytesIn.Add(c.BytesIn)
	st.BytesOut.Add(c.BytesOut)
	st.HandlerErrors.Add(c.HandlerErrors)
	st.HandlerPanics.Add(c.HandlerPanics)
	st.SlowConsumers.Add(c.SlowConsumers)
	st.InputOverflows.Add(c.InputOverflows)
	st.IdleTimeouts.Add(c.IdleTimeouts)
}

// parent is the accepting side of one service.
type parent struct {
	e      *Engine
	stderr io.Writer // where children's standard error goes
	exe    string
	s      *server.Service
	admit  *server.Service // s's limits and counters, and a handler that is never called

	mu       sync.Mutex
	children map[int]*os.Process
	wg       sync.WaitGroup // reapers and refusals
}

func (e *Engine) serveParent(ctx context.Context, ln net.Listener, s *server.Service) error {
	defer ln.Close()
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("fork: %w", err)
	}
	// Admission, refusal and close accounting run in the parent, but the
	// handler runs in the children: the parent's bookkeeping goes through a
	// twin service whose handler does nothing but refuse.
	admit := &server.Service{Name: s.Name, Handler: quiet(s.Handler), Limits: s.Limits,
		Logger: s.Logger, Stats: s.Stats}
	if e.MaxChildren > 0 && (admit.Limits.MaxConns < 0 || e.MaxChildren < admit.Limits.MaxConns) {
		admit.Limits.MaxConns = e.MaxChildren
	}
	admit.Init()
	p := &parent{e: e, stderr: e.Stderr, exe: exe, s: s, admit: admit, children: make(map[int]*os.Process)}
	if p.stderr == nil {
		p.stderr = os.Stderr
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.Logger.Warn("accept", "service", s.Name, "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			p.shutdown(ctx)
			return fmt.Errorf("fork: accept: %w", err)
		}
		backoff = 0
		if reason := admit.Admit(nc.RemoteAddr()); reason != nil {
			p.wg.Go(func() { goroutine.Refuse(nc, admit, reason) })
			continue
		}
		p.start(nc)
	}
	p.shutdown(ctx)
	return nil
}

// start hands nc to a new child, and reaps it in a goroutine. Nothing the
// child does or writes can block the accept loop: its output is read, and
// its end reported, by the reaper.
func (p *parent) start(nc net.Conn) {
	ch := &child{}
	ch.InitBase(nc.LocalAddr(), nc.RemoteAddr())
	cmd, stats, stderr, err := p.spawn(nc, ch.RemoteAddr())
	nc.Close() // the child holds its own copy
	if err != nil {
		p.s.Logger.Error("fork", "service", p.s.Name, "conn_id", ch.ID(), "err", err)
		p.admit.Closed(ch, err)
		return
	}
	pid := cmd.Process.Pid
	p.mu.Lock()
	p.children[pid] = cmd.Process
	p.mu.Unlock()
	p.wg.Go(func() {
		crashed := make(chan crash, 1)
		go func() { crashed <- p.forward(stderr) }()
		var c counters
		// The pipe reaches EOF when the child exits, however it exits.
		b, _ := io.ReadAll(io.LimitReader(stats, 4096))
		stats.Close()
		cr := <-crashed
		stderr.Close()
		werr := cmd.Wait()
		p.mu.Lock()
		delete(p.children, pid)
		p.mu.Unlock()
		if json.Unmarshal(b, &c) == nil {
			c.addTo(p.s.Stats)
		}
		var reason error
		if werr != nil {
			reason = fmt.Errorf("fork: child %d: %w", pid, werr)
		}
		// The slot is free before anything is logged.
		p.admit.Closed(ch, reason)
		if werr == nil {
			return
		}
		attrs := []any{"service", p.s.Name, "conn_id", ch.ID(),
			"remote_addr", ch.RemoteAddr().String(), "pid", pid, "err", werr}
		if cr.what != "" {
			attrs = append(attrs, "crash", cr.what)
		}
		p.s.Logger.Error("child failed", attrs...)
		if len(cr.stack) > 0 {
			p.s.Logger.Debug("child failed: stack", "service", p.s.Name, "conn_id", ch.ID(),
				"pid", pid, "stack", string(cr.stack))
		}
	})
}

// crash is what a child that died of a Go panic or fatal error printed.
type crash struct {
	what  string // the panic value or fatal error, from its first line
	stack []byte // what followed, bounded
}

const maxStack = 64 << 10

// forward copies a child's standard error to the engine's, line by line,
// until the Go runtime's report of a crash begins; that report is kept
// (bounded) to be logged, not copied: a crash storm must not flood the
// terminal or a log collector with stacks.
func (p *parent) forward(r io.Reader) crash {
	var cr crash
	br := bufio.NewReaderSize(r, 4096)
	crashing := false
	lineStart := true // line begins a line, not a long line's continuation
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			switch {
			case crashing:
				if room := maxStack - len(cr.stack); room > 0 {
					cr.stack = append(cr.stack, line[:min(len(line), room)]...)
				}
			case lineStart && (bytes.HasPrefix(line, []byte("panic: ")) || bytes.HasPrefix(line, []byte("fatal error: "))):
				crashing = true
				cr.what = strings.TrimSpace(string(line))
			default:
				p.e.errMu.Lock()
				p.stderr.Write(line)
				p.e.errMu.Unlock()
			}
		}
		lineStart = err == nil
		if err != nil && err != bufio.ErrBufferFull {
			return cr
		}
	}
}

// spawn starts a child with nc as fd 3, a pipe for its counters as fd 4 and
// a pipe as its standard error; it returns the read ends of both pipes.
func (p *parent) spawn(nc net.Conn, remote net.Addr) (*exec.Cmd, *os.File, *os.File, error) {
	fc, ok := nc.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, nil, nil, fmt.Errorf("fork: cannot pass a %T to a child", nc)
	}
	f, err := fc.File()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("fork: %w", err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("fork: %w", err)
	}
	defer w.Close()
	er, ew, err := os.Pipe()
	if err != nil {
		r.Close()
		return nil, nil, nil, fmt.Errorf("fork: %w", err)
	}
	defer ew.Close()
	cmd := exec.Command(p.exe, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(append(environ(), p.e.Env...), EnvService+"="+p.s.Name, envRemote+"="+remote.String())
	cmd.ExtraFiles = []*os.File{f, w}
	cmd.Stdout, cmd.Stderr = os.Stdout, ew
	// Its own process group: a terminal's ^C reaches the parent alone,
	// which then shuts children down in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		er.Close()
		return nil, nil, nil, fmt.Errorf("fork: %w", err)
	}
	return cmd, r, er, nil
}

func environ() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, EnvService+"=") && !strings.HasPrefix(kv, envRemote+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// shutdown sends SIGTERM to every child, waits for them within the drain
// bound and kills the rest.
func (p *parent) shutdown(ctx context.Context) {
	p.signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(p.s.Limits.DrainTimeout + killGrace)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	p.signal(syscall.SIGKILL)
	<-done
}

func (p *parent) signal(sig os.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pid, proc := range p.children {
		if err := proc.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			p.s.Logger.Warn("signal child", "service", p.s.Name, "pid", pid, "err", err)
		}
	}
}

// child is a connection as the parent sees it: served elsewhere.
type child struct{ server.ConnBase }

func (*child) Write([]byte) error       { return server.ErrClosed }
func (*child) WriteString(string) error { return server.ErrClosed }
func (*child) SetTimer(time.Duration)   {}
func (*child) PauseRead()               {}
func (*child) ResumeRead()              {}
func (*child) NotifyDrained(int)        {}
func (*child) WriteFile(f *os.File, _, _ int64) error {
	f.Close()
	return server.ErrClosed
}
func (*child) Close() error          { return nil }
func (*child) CloseWith(error) error { return nil }
func (*child) Queued() int           { return 0 }

// quiet returns a handler that does nothing but refuse as h would: the
// parent's twin service must not call the real handler, whose connections
// live in the children.
func quiet(h server.Handler) server.Handler {
	if r, ok := h.(server.Refuser); ok {
		return refuser{r}
	}
	return nop{}
}

type nop struct{}

func (nop) Open(server.Conn)                      {}
func (nop) Data(server.Conn, []byte) (int, error) { return 0, nil }
func (nop) Close(server.Conn, error)              {}

type refuser struct {
	r server.Refuser
}

func (refuser) Open(server.Conn)                      {}
func (refuser) Data(server.Conn, []byte) (int, error) { return 0, nil }
func (refuser) Close(server.Conn, error)              {}
func (r refuser) Refuse(reason error) []byte          { return r.r.Refuse(reason) }
