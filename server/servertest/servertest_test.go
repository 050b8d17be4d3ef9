package servertest_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portside/portside/server"
	"github.com/portside/portside/server/servertest"
)

// lines answers each whole line with "> line\n": a handler that keeps the
// contract.
type lines struct{ server.Base }

func (lines) Data(c server.Conn, in []byte) (int, error) {
	used := 0
	for {
		i := bytes.IndexByte(in[used:], '\n')
		if i < 0 {
			return used, nil
		}
		line := in[used : used+i]
		used += i + 1
		if string(line) == "quit" {
			c.WriteString("bye\n")
			c.Close()
			return used, nil
		}
		if string(line) == "bad" {
			return used, errors.New("bad line")
		}
		c.Write(append([]byte("> "), append(line, '\n')...))
	}
}

// keeper keeps a slice of its input past the call and writes it at the
// end: the bug the overwriting exists to catch.
type keeper struct {
	server.Base
	kept []byte
}

func (k *keeper) Data(c server.Conn, in []byte) (int, error) {
	if k.kept == nil && len(in) > 0 {
		k.kept = in[:1]
	}
	return len(in), nil
}

func (k *keeper) Close(c server.Conn, err error) {}

func (k *keeper) ReadEOF(c server.Conn, rest []byte) {
	c.Write(k.kept)
	c.Close()
}

// tb is a testing.TB that records failures instead of failing, so that the
// kit's own checks can be seen to fire.
type tb struct {
	testing.TB
	mu    sync.Mutex
	errs  []string
	fatal bool
}

func (t *tb) Helper() {}
func (t *tb) Errorf(format string, args ...any) {
	t.mu.Lock()
	t.errs = append(t.errs, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}
func (t *tb) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	t.fatal = true
	runtime.Goexit()
}

// capture runs f with a recording tb on a goroutine of its own, so that a
// Fatalf ends f alone.
func capture(f func(t testing.TB)) *tb {
	t := new(tb)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(t)
	}()
	<-done
	return t
}

func TestRunLines(t *testing.T) {
	in := []byte("hello\nworld\npartial")
	tr := servertest.Run(t, lines{}, in)
	if want := "> hello\n> world\n"; tr.Output != want {
		t.Errorf("output %q, want %q", tr.Output, want)
	}
	if tr.Err != nil || tr.Closed {
		t.Errorf("closed by handler %t, reason %v; want a clean close by the peer", tr.Closed, tr.Err)
	}
}

func TestRunHandlerCloses(t *testing.T) {
	tr := servertest.Run(t, lines{}, []byte("a\nquit\nb\n"))
	if want := "> a\nbye\n"; tr.Output != want || !tr.Closed || tr.Err != nil {
		t.Errorf("got %s; want %q closed by the handler", tr, want)
	}
	tr = servertest.Run(t, lines{}, []byte("a\nbad\nb\n"))
	var he *server.HandlerError
	if tr.Output != "> a\n" || !errors.As(tr.Err, &he) || he.Err.Error() != "bad line" {
		t.Errorf("got %s; want a HandlerError after one line", tr)
	}
}

// TestRunCatchesKeptInput: a handler that keeps its input answers with
// the overwritten bytes, which differ from split to split.
func TestRunCatchesKeptInput(t *testing.T) {
	rec := capture(func(t testing.TB) {
		servertest.RunEach(t, func() server.Handler { return new(keeper) }, []byte("abcdef"), servertest.Splits(servertest.Chunks(1)))
	})
	if len(rec.errs) == 0 {
		t.Fatal("a handler keeping its input passed")
	}
	if !strings.Contains(rec.errs[0], "answered differently") {
		t.Errorf("failure %q", rec.errs[0])
	}
	// The same handler, run twice whole, also differs: the overwrite
	// pattern is the session's own.
	a := servertest.Feed(t, new(keeper), []byte("abc"), servertest.Whole())
	b := servertest.Feed(t, new(keeper), []byte("abc"), servertest.Whole())
	if a.Output == "a" || a.Output == b.Output {
		t.Errorf("kept input read back as %q and %q", a.Output, b.Output)
	}
}

// TestRunCatchesSplitDependence: a handler that answers each Data call
// rather than each line fails.
func TestRunCatchesSplitDependence(t *testing.T) {
	h := dataFunc(func(c server.Conn, in []byte) (int, error) {
		c.WriteString(fmt.Sprintf("[%d]", len(in)))
		return len(in), nil
	})
	rec := capture(func(t testing.TB) { servertest.Run(t, h, []byte("hello")) })
	if len(rec.errs) != 4 || !strings.Contains(rec.errs[3], "more splits not tried") {
		t.Errorf("failures: %q", rec.errs)
	}
}

type dataFunc func(c server.Conn, in []byte) (int, error)

func (f dataFunc) Open(server.Conn)                           {}
func (f dataFunc) Close(server.Conn, error)                   {}
func (f dataFunc) Data(c server.Conn, in []byte) (int, error) { return f(c, in) }

func TestConsumedOutOfRange(t *testing.T) {
	for _, n := range []int{-1, 6} {
		h := dataFunc(func(server.Conn, []byte) (int, error) { return n, nil })
		rec := capture(func(t testing.TB) { servertest.Feed(t, h, []byte("hello"), servertest.Whole()) })
		if !rec.fatal || len(rec.errs) != 1 || !strings.Contains(rec.errs[0], fmt.Sprintf("consumed %d of 5", n)) {
			t.Errorf("consumed %d: failures %q", n, rec.errs)
		}
	}
}

// TestUnconsumedKept: what Data leaves is handed again with what follows,
// and the pieces arrive as the split says.
func TestUnconsumedKept(t *testing.T) {
	var got []string
	h := dataFunc(func(c server.Conn, in []byte) (int, error) {
		got = append(got, string(in))
		return len(in) / 2, nil
	})
	servertest.Feed(t, h, []byte("abcdefg"), servertest.At(2, 5))
	if want := []string{"ab", "bcde", "defg"}; !slices.Equal(got, want) {
		t.Errorf("Data handed %q, want %q", got, want)
	}
}

func TestSplits(t *testing.T) {
	in := make([]byte, 3000)
	for _, sp := range append([]servertest.Split{servertest.Whole(), servertest.Chunks(1), servertest.Chunks(2, 3), servertest.At(0, 10, 10, 5000), servertest.Random(7)}, servertest.EveryCut(5)...) {
		var sizes []int
		h := dataFunc(func(c server.Conn, in []byte) (int, error) {
			sizes = append(sizes, len(in))
			return len(in), nil
		})
		servertest.Feed(t, h, in, sp)
		total := 0
		for _, n := range sizes {
			if n == 0 {
				t.Errorf("%s: Data handed nothing", sp)
			}
			total += n
		}
		if total != len(in) {
			t.Errorf("%s: %d bytes handed of %d", sp, total, len(in))
		}
		if sp.String() == "chunks 2,3" && !slices.Equal(sizes[:4], []int{2, 3, 2, 3}) {
			t.Errorf("%s: pieces %v", sp, sizes[:4])
		}
	}
	if a, b := fmt.Sprint(servertest.Random(7)), fmt.Sprint(servertest.Random(8)); a == b {
		t.Errorf("seeds name the same split %q", a)
	}
}

// full is a handler with every optional callback, logging them.
type full struct {
	mu     sync.Mutex
	events []string
	onData func(c server.Conn, in []byte) (int, error)
	onTick func(c server.Conn)
	closes int
}

func (f *full) log(s string) {
	f.mu.Lock()
	f.events = append(f.events, s)
	f.mu.Unlock()
}
func (f *full) Open(c server.Conn) { f.log("open") }
func (f *full) Data(c server.Conn, in []byte) (int, error) {
	f.log("data " + string(in))
	if f.onData != nil {
		return f.onData(c, in)
	}
	return len(in), nil
}
func (f *full) Close(c server.Conn, err error) {
	f.closes++
	f.log(fmt.Sprintf("close %v", err))
}
func (f *full) Timer(c server.Conn) {
	f.log("timer")
	if f.onTick != nil {
		f.onTick(c)
	}
}
func (f *full) Drained(c server.Conn)              { f.log("drained") }
func (f *full) ReadEOF(c server.Conn, rest []byte) { f.log("eof " + string(rest)); c.Close() }
func (f *full) Drain(c server.Conn)                { f.log("drain"); c.Close() }
func (f *full) got() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.events, "|")
}

// TestCloseWith: a session closes for the reason CloseWith gives, as an
// engine does, once what is queued is sent; a CloseWith after Close
// changes nothing.
func TestCloseWith(t *testing.T) {
	h := &full{onData: func(c server.Conn, in []byte) (int, error) {
		c.WriteString("bye")
		c.CloseWith(server.ErrInputTooLarge)
		return len(in), nil
	}}
	s := servertest.Start(t, h)
	s.SendString("x")
	tr := s.Transcript()
	if !errors.Is(tr.Err, server.ErrInputTooLarge) || !errors.As(tr.Err, new(*server.HandlerError)) || tr.Output != "bye" {
		t.Errorf("closed for %v with output %q, want a HandlerError for ErrInputTooLarge after bye", tr.Err, tr.Output)
	}

	h = &full{onData: func(c server.Conn, in []byte) (int, error) {
		c.Close()
		c.CloseWith(server.ErrInputTooLarge)
		return len(in), nil
	}}
	s = servertest.Start(t, h)
	s.SendString("x")
	if tr := s.Transcript(); tr.Err != nil {
		t.Errorf("closed for %v after Close then CloseWith, want nil", tr.Err)
	}
}

// TestNoCallbackAfterClose: Close comes once, and nothing after it.
func TestNoCallbackAfterClose(t *testing.T) {
	h := &full{onData: func(c server.Conn, in []byte) (int, error) {
		c.SetTimer(time.Second)
		c.NotifyDrained(0)
		c.Close()
		c.Close()
		if err := c.WriteString("late"); !errors.Is(err, server.ErrClosed) {
			t.Errorf("Write after Close: %v", err)
		}
		return len(in), nil
	}}
	s := servertest.Start(t, h)
	s.SendString("x")
	s.SendString("y")
	if s.FireTimer() {
		t.Error("a timer fired after Close")
	}
	s.Advance(time.Hour)
	s.EOF()
	s.Shutdown()
	s.Close(server.ErrIdleTimeout)
	tr := s.Transcript()
	if got, want := h.got(), "open|data x|close <nil>"; got != want {
		t.Errorf("callbacks %s, want %s", got, want)
	}
	if h.closes != 1 || tr.Err != nil || !tr.Closed || s.Conn().CloseCalls() != 2 {
		t.Errorf("closes %d, reason %v, Close calls %d", h.closes, tr.Err, s.Conn().CloseCalls())
	}
	if !slices.Contains(tr.Log, "input 1 dropped: closed") {
		t.Errorf("log %q does not show the dropped input", tr.Log)
	}
}

// TestTimers: Advance fires timers at their deadlines, in order across
// sessions, re-armed ones included; FireTimer fires on demand; SetTimer(0)
// cancels.
func TestTimers(t *testing.T) {
	clk := servertest.NewClock(servertest.Epoch)
	var fired []string
	mk := func(name string, every time.Duration) *full {
		h := &full{}
		h.onTick = func(c server.Conn) {
			fired = append(fired, fmt.Sprintf("%s@%v", name, clk.Now().Sub(servertest.Epoch)))
			c.SetTimer(every)
		}
		return h
	}
	a := servertest.Start(t, mk("a", 3*time.Second), servertest.WithClock(clk))
	b := servertest.Start(t, mk("b", 5*time.Second), servertest.WithClock(clk))
	a.Conn().SetTimer(3 * time.Second)
	b.Conn().SetTimer(5 * time.Second)
	clk.Advance(10 * time.Second)
	if want := []string{"a@3s", "b@5s", "a@6s", "a@9s", "b@10s"}; !slices.Equal(fired, want) {
		t.Errorf("fired %q, want %q", fired, want)
	}
	if now := clk.Now().Sub(servertest.Epoch); now != 10*time.Second {
		t.Errorf("clock at %v after advancing 10s", now)
	}
	fired = nil
	if !a.FireTimer() || len(fired) != 1 {
		t.Errorf("FireTimer: fired %q", fired)
	}
	b.Conn().SetTimer(0)
	if d, armed := b.Conn().Timer(); armed || d != 0 {
		t.Errorf("after SetTimer(0): %v armed %t", d, armed)
	}
	if b.FireTimer() {
		t.Error("a cancelled timer fired")
	}
	b.Close(nil)
	fired = nil
	clk.Advance(time.Minute)
	for _, f := range fired {
		if strings.HasPrefix(f, "b") {
			t.Errorf("timer of a closed connection fired: %s", f)
		}
	}
}

// TestTimerNeedsMethod: like an engine, SetTimer does nothing for a
// handler without a Timer method.
func TestTimerNeedsMethod(t *testing.T) {
	s := servertest.Start(t, lines{})
	s.Conn().SetTimer(time.Second)
	if _, armed := s.Conn().Timer(); armed {
		t.Error("timer armed for a handler without Timer")
	}
	if s.FireTimer() {
		t.Error("fired")
	}
}

// TestPause: no Data while paused; the kept input and what came meanwhile
// once resumed, also when the resume comes from another goroutine.
func TestPause(t *testing.T) {
	var resumed sync.WaitGroup
	release := make(chan struct{})
	h := &full{}
	h.onData = func(c server.Conn, in []byte) (int, error) {
		if i := bytes.IndexByte(in, '!'); i >= 0 {
			c.PauseRead()
			resumed.Go(func() {
				<-release
				c.ResumeRead()
			})
			return i + 1, nil
		}
		return len(in), nil
	}
	s := servertest.Start(t, h)
	s.SendString("ab!cd")
	s.SendString("ef")
	if !s.Conn().Paused() {
		t.Fatal("not paused")
	}
	if got := h.got(); got != "open|data ab!cd" {
		t.Errorf("while paused: %s", got)
	}
	close(release)
	if !s.Wait(func() bool { return strings.Contains(h.got(), "data cdef") }, time.Minute) {
		t.Fatal("never resumed")
	}
	resumed.Wait()
	s.EOF()
	s.Transcript()
	if got, want := h.got(), "open|data ab!cd|data cdef|eof |close <nil>"; got != want {
		t.Errorf("callbacks %s, want %s", got, want)
	}
}

// TestDrained: Drained waits for a stalled peer to read; at once when the
// queue is already low; never for a handler without the method.
func TestDrained(t *testing.T) {
	h := &full{onData: func(c server.Conn, in []byte) (int, error) {
		c.Write(make([]byte, 200<<10))
		c.NotifyDrained(64 << 10) // the low-water mark
		return len(in), nil
	}}
	s := servertest.Start(t, h, servertest.WithLimits(server.Limits{HighWater: 128 << 10}))
	s.Stall()
	s.SendString("x")
	if s.Conn().Queued() != 200<<10 || !s.Conn().DrainedAsked() || strings.Contains(h.got(), "drained") {
		t.Fatalf("stalled: queued %d, asked %t, callbacks %s", s.Conn().Queued(), s.Conn().DrainedAsked(), h.got())
	}
	s.SendString("y") // above high water: not read
	if strings.Contains(h.got(), "data y") {
		t.Error("read above the high-water mark")
	}
	s.Flush()
	if got, want := h.got(), "open|data x|drained|data y|drained"; got != want {
		t.Errorf("callbacks %s, want %s", got, want)
	}
}

// TestDrainedMark: Drained comes at the mark asked for: at once for one
// above what is queued, though the peer reads nothing.
func TestDrainedMark(t *testing.T) {
	h := &full{onData: func(c server.Conn, in []byte) (int, error) {
		c.Write(make([]byte, 200<<10))
		c.NotifyDrained(200 << 10)
		return len(in), nil
	}}
	s := servertest.Start(t, h, servertest.WithLimits(server.Limits{HighWater: 1 << 20}))
	s.Stall()
	s.SendString("x")
	if got, want := h.got(), "open|data x|drained"; got != want || s.Conn().Queued() != 200<<10 {
		t.Errorf("callbacks %s with %d queued, want %s with all of it", got, s.Conn().Queued(), want)
	}
}

// TestSlowConsumer: a stalled peer's queue beyond MaxQueue closes the
// connection as an engine does.
func TestSlowConsumer(t *testing.T) {
	h := &full{onData: func(c server.Conn, in []byte) (int, error) {
		c.Write(make([]byte, 3000))
		return len(in), nil
	}}
	s := servertest.Start(t, h, servertest.WithLimits(server.Limits{MaxQueue: 5000}))
	s.Stall()
	s.SendString("a")
	s.SendString("b")
	if done, err := s.Finished(); !done || !errors.Is(err, server.ErrSlowConsumer) {
		t.Errorf("finished %t with %v", done, err)
	}
}

func TestInputTooLarge(t *testing.T) {
	h := dataFunc(func(server.Conn, []byte) (int, error) { return 0, nil })
	tr := servertest.Feed(t, h, make([]byte, 100), servertest.Chunks(10), servertest.WithLimits(server.Limits{MaxInput: 50}))
	if !errors.Is(tr.Err, server.ErrInputTooLarge) {
		t.Errorf("reason %v", tr.Err)
	}
}

// TestEOFAndShutdown: ReadEOF gets the rest; Drain comes on shutdown.
func TestEOFAndShutdown(t *testing.T) {
	h := &full{onData: func(c server.Conn, in []byte) (int, error) { return 1, nil }}
	s := servertest.Start(t, h)
	s.SendString("abc")
	s.EOF()
	if got, want := h.got(), "open|data abc|eof bc|close <nil>"; got != want {
		t.Errorf("callbacks %s, want %s", got, want)
	}
	h = &full{}
	s = servertest.Start(t, h)
	s.Shutdown()
	if got, want := h.got(), "open|drain|close <nil>"; got != want {
		t.Errorf("callbacks %s, want %s", got, want)
	}
}

// TestConnRecords: WriteFile's bytes, requests in order, and writes from
// many goroutines at once.
func TestConnRecords(t *testing.T) {
	c := servertest.NewConn()
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, []byte("0123456789"), 0o644)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteString("<")
	if err := c.WriteFile(f, 2, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat(); err == nil {
		t.Error("WriteFile left the file open")
	}
	f, _ = os.Open(path)
	if err := c.WriteFile(f, 8, 5); err == nil {
		t.Error("WriteFile past the end succeeded")
	}
	c.PauseRead()
	c.NotifyDrained(0)
	if got := c.Take(); got != "<23456" {
		t.Errorf("output %q", got)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				c.WriteString(string(rune('a' + i)))
			}
		})
	}
	wg.Wait()
	if n := len(c.Output()); n != 800 || c.Written() != 806 {
		t.Errorf("%d bytes kept, %d written, want 800 and 806", n, c.Written())
	}
	if got := strings.Join(c.Log()[:4], "|"); got != "write 1|writefile 5|pauseread|notifydrained 0" {
		t.Errorf("log %s", got)
	}
	c.Discard()
	c.WriteString("more")
	if len(c.Output()) != 0 || c.Written() != 810 {
		t.Errorf("after Discard: %d kept, %d written", len(c.Output()), c.Written())
	}
	buf := make([]byte, 1000)
	if n := testing.AllocsPerRun(100, func() { c.Write(buf) }); n != 0 {
		t.Errorf("a discarded write allocates %v times", n)
	}
}

// TestCallbackInsideCallback: a handler cannot make the session call it
// back inside a callback.
func TestCallbackInsideCallback(t *testing.T) {
	var s *servertest.Session
	h := &full{onData: func(c server.Conn, in []byte) (int, error) {
		s.SendString("again")
		return len(in), nil
	}}
	rec := capture(func(t testing.TB) {
		s = servertest.Start(t, h)
		s.SendString("x")
	})
	if !rec.fatal || !strings.Contains(rec.errs[0], "inside a callback") {
		t.Errorf("failures %q", rec.errs)
	}
}

func TestWithAddrs(t *testing.T) {
	var got string
	h := dataFunc(func(c server.Conn, in []byte) (int, error) {
		got = c.LocalAddr().String() + " " + c.RemoteAddr().String()
		return len(in), nil
	})
	remote := &net.TCPAddr{IP: net.IPv6loopback, Port: 5}
	servertest.Feed(t, h, []byte("x"), servertest.Whole(), servertest.WithAddrs(nil, remote))
	if want := "unknown [::1]:5"; got != want {
		t.Errorf("addresses %q, want %q", got, want)
	}
	servertest.Feed(t, h, []byte("x"), servertest.Whole())
	if want := "127.0.0.1:8080 127.0.0.1:40000"; got != want {
		t.Errorf("addresses %q, want %q", got, want)
	}
}

// TestCloseWaitsForFlush: a handler's Close takes effect once the stalled
// peer has read what is queued; meanwhile nothing is read or fired.
func TestCloseWaitsForFlush(t *testing.T) {
	h := &full{onData: func(c server.Conn, in []byte) (int, error) {
		c.WriteString("bye")
		c.SetTimer(time.Second)
		c.Close()
		return len(in), nil
	}}
	s := servertest.Start(t, h)
	s.Stall()
	s.SendString("x")
	s.SendString("y")
	if done, _ := s.Finished(); done || s.FireTimer() {
		t.Fatalf("closed or fired with output queued: %s", h.got())
	}
	s.Flush()
	if done, err := s.Finished(); !done || err != nil {
		t.Errorf("after the flush: finished %t, %v", done, err)
	}
	if got, want := h.got(), "open|data x|close <nil>"; got != want {
		t.Errorf("callbacks %s, want %s", got, want)
	}
}
