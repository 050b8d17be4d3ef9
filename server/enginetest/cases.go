package enginetest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portside/portside/server"
)

// wait bounds every blocking step of a client, so a broken engine fails a
// test instead of hanging the suite.
const wait = 20 * time.Second

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	return dialFrom(t, nil, addr)
}

func dialFrom(t *testing.T, local *net.TCPAddr, addr string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: wait}
	if local != nil {
		d.LocalAddr = local
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("write %q: %v", trunc(s), err)
	}
}

func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	b := make([]byte, n)
	if got, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: got %d: %v", n, got, err)
	}
	return b
}

func expect(t *testing.T, c net.Conn, want string) {
	t.Helper()
	if got := string(readN(t, c, len(want))); got != want {
		t.Fatalf("read %q, want %q", trunc(got), trunc(want))
	}
}

// expectEOF reads to the end and checks nothing more came and the end was
// a clean FIN.
func expectEOF(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	rest, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read to EOF: %v (after %q)", err, trunc(string(rest)))
	}
	if len(rest) > 0 {
		t.Fatalf("read %q before EOF, want nothing", trunc(string(rest)))
	}
}

// expectEnd reads until the connection ends, cleanly or not.
func expectEnd(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, c)
	if err != nil && isTimeout(err) {
		t.Fatalf("connection still open after %v", wait)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

func waitClose(t *testing.T, e *Env) closeEvent {
	t.Helper()
	select {
	case ev := <-e.rec().closed:
		return ev
	case <-time.After(wait):
		t.Fatal("Handler.Close not called")
		return closeEvent{}
	}
}

func wantReason(t *testing.T, ev closeEvent, want error) {
	t.Helper()
	if !errorsIs(ev.err, want) {
		t.Errorf("Close reason %v, want %v", ev.err, want)
	}
}

// testCloseWith: a close for a reason, asked from a goroutine of the
// handler's, flushes the goodbye first; the handler's Close, the log and
// the counters see the reason. After Close it changes nothing.
func testCloseWith(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	write(t, c, "go-fail\n")
	expect(t, c, "bye\n")
	expectEnd(t, c)
	if !e.rec().local() {
		return // the handler's view is in another process
	}
	ev := waitClose(t, e)
	wantReason(t, ev, server.ErrInputTooLarge)
	if !errors.As(ev.err, new(*server.HandlerError)) {
		t.Errorf("Close reason %T %v, want a *server.HandlerError", ev.err, ev.err)
	}
	if got := e.Service.Stats.InputOverflows.Load(); got != 1 { // counted before Close is called
		t.Errorf("Stats.InputOverflows = %d, want 1", got)
	}

	c = dial(t, e.Addr)
	write(t, c, "quit-fail\n")
	expect(t, c, "bye\n")
	expectEnd(t, c)
	if ev := waitClose(t, e); ev.err != nil {
		t.Errorf("Close reason %v after Close then CloseWith, want nil", ev.err)
	}
	if got := e.Service.Stats.InputOverflows.Load(); got != 1 {
		t.Errorf("Stats.InputOverflows = %d after a CloseWith that followed Close, want still 1", got)
	}
}

func testBanner(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	expect(t, c, "hello\n")
	write(t, c, "x")
	expect(t, c, "x")
}

func testPartialInput(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	write(t, c, "hel")
	select { // the handler has seen the partial line and consumed nothing
	case <-e.rec().data:
	case <-time.After(wait):
		t.Fatal("Data not called for a partial line")
	}
	write(t, c, "lo\nwor")
	expect(t, c, "hello\n")
	write(t, c, "ld\n")
	expect(t, c, "world\n")
}

func testByteAtATime(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	c.SetNoDelay(true)
	var msg text
	for i := range 50 {
		msg.add(fmt.Sprintf("line %d\n", i))
	}
	for _, b := range msg.Bytes() {
		write(t, c, string(b))
	}
	expect(t, c, msg.String())
}

type text struct{ bytes.Buffer }

func (s *text) add(x string) { s.WriteString(x) }

func testSplitWrites(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	write(t, c, "bytes 5000\n")
	expect(t, c, string(patternBytes(5000)))
	write(t, c, "big 3000000\n")
	expect(t, c, string(patternBytes(3000000)))
}

func testCoalesced(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	var msg text
	for i := range 1000 {
		msg.add(strconv.Itoa(i) + "\n")
	}
	write(t, c, msg.String())
	expect(t, c, msg.String())
}

func testConcurrent(t *testing.T, e *Env) {
	n := 1000
	if e.conns > 0 {
		n = e.conns
	}
	if testing.Short() {
		n = min(n, 200)
	}
	// Connect all first, one after another (a burst of SYNs would test the
	// kernel's listen queue, not the engine), then talk on all at once.
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dial(t, e.Addr)
	}
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			errs <- roundTrip(c, rand.New(rand.NewPCG(uint64(i), 1)))
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			if failed < 5 {
				t.Error(err)
			}
			failed++
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d connections failed", failed, n)
	}
}

// roundTrip sends a random payload of random size and checks the echo.
func roundTrip(c net.Conn, r *rand.Rand) error {
	c.SetDeadline(time.Now().Add(2 * wait))
	payload := make([]byte, 1+r.IntN(64<<10))
	for i := range payload {
		payload[i] = byte(r.Uint32())
	}
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		werr <- err
	}()
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read echo of %d bytes: %w", len(payload), err)
	}
	if err := <-werr; err != nil {
		return err
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("echo of %d bytes differs", len(payload))
	}
	return nil
}

func testWriteFromGoroutine(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	c.SetReadDeadline(time.Now().Add(wait))
	br := bufio.NewReader(c)
	for i := range 10000 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if want := strconv.Itoa(i) + "\n"; line != want {
			t.Fatalf("line %d: got %q, want %q", i, line, want)
		}
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
		t.Fatalf("after the lines: %q, %v; want clean EOF", rest, err)
	}
	wantReason(t, waitClose(t, e), nil)
}

func testCloseFromGoroutine(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	write(t, c, "a\n")
	expect(t, c, "a\n")
	var sc server.Conn
	select {
	case sc = <-e.rec().opened:
	case <-time.After(wait):
		t.Fatal("Open not called")
	}
	go sc.Close() // while the engine waits in a read
	expectEOF(t, c)
	wantReason(t, waitClose(t, e), nil)
}

func testSlowConsumer(t *testing.T, e *Env) {
	c := dial(t, e.Addr) // and never read
	ev := waitClose(t, e)
	wantReason(t, ev, server.ErrSlowConsumer)
	if got := e.Service.Stats.SlowConsumers.Load(); got != 1 {
		t.Errorf("Stats.SlowConsumers = %d, want 1", got)
	}
	expectEnd(t, c)
}

func testBackpressure(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	// Send without reading until the server stops taking input. Without
	// backpressure the whole gigabyte would go through, into server memory.
	const limit = 1 << 30
	chunk := patternBytes(1 << 20)
	total := 0
	for total < limit {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := c.Write(chunk)
		total += n
		if err != nil {
			if !isTimeout(err) {
				t.Fatalf("write after %d bytes: %v", total, err)
			}
			break
		}
	}
	if total >= limit/8 {
		t.Fatalf("server took %d MiB from a client that never reads; want it to push back", total>>20)
	}
	hw := e.Service.Limits.HighWater
	rec := e.rec()
	rec.mu.Lock()
	q := rec.maxQueued
	rec.mu.Unlock()
	if q > hw+e.Service.Limits.MaxInput+(256<<10) {
		t.Errorf("server queued up to %d bytes, want about the high-water mark %d", q, hw)
	}
	// Nothing was lost: everything sent comes back, in order.
	c.SetReadDeadline(time.Now().Add(wait))
	got := make([]byte, total)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read back %d bytes: %v", total, err)
	}
	for i := range got {
		if got[i] != pattern(i%len(chunk)) {
			t.Fatalf("byte %d of the echo is %q, want %q", i, got[i], pattern(i%len(chunk)))
		}
	}
	select {
	case ev := <-e.rec().closed:
		t.Fatalf("connection closed (%v) under backpressure", ev.err)
	default:
	}
}

func testInputTooLarge(t *testing.T, e *Env) {
	other := dial(t, e.Addr)
	c := dial(t, e.Addr)
	c.SetWriteDeadline(time.Now().Add(wait))
	c.Write(bytes.Repeat([]byte("x"), 64<<10)) // no newline; may fail once closed
	wantReason(t, waitClose(t, e), server.ErrInputTooLarge)
	expectEnd(t, c)
	if got := e.Service.Stats.InputOverflows.Load(); got != 1 {
		t.Errorf("Stats.InputOverflows = %d, want 1", got)
	}
	write(t, other, "still here\n")
	expect(t, other, "still here\n")
}

func testIdleTimeout(t *testing.T, e *Env) {
	start := time.Now()
	c := dial(t, e.Addr)
	expectEnd(t, c)
	if d := time.Since(start); d < e.Service.Limits.IdleTimeout {
		t.Errorf("closed after %v, before the idle timeout %v", d, e.Service.Limits.IdleTimeout)
	}
	wantReason(t, waitClose(t, e), server.ErrIdleTimeout)
	if got := e.Service.Stats.IdleTimeouts.Load(); got != 1 {
		t.Errorf("Stats.IdleTimeouts = %d, want 1", got)
	}
}

func testActiveNotIdle(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	tick := time.NewTicker(e.Service.Limits.IdleTimeout / 10)
	defer tick.Stop()
	end := time.Now().Add(3 * e.Service.Limits.IdleTimeout)
	for time.Now().Before(end) {
		<-tick.C
		write(t, c, "ping\n")
		expect(t, c, "ping\n")
	}
}

// testOutputNotIdle: output written from a goroutine of the handler's,
// with no input at all, is progress: the connection outlives several idle
// timeouts while it flows, and is closed as idle once it stops.
func testOutputNotIdle(t *testing.T, e *Env) {
	idle := e.Service.Limits.IdleTimeout
	c := dial(t, e.Addr)
	r := newLineReader(c)
	const ticks = 10
	write(t, c, fmt.Sprintf("go-tick %d %d\n", ticks, (idle/4).Milliseconds()))
	for i := range ticks {
		c.SetReadDeadline(time.Now().Add(wait))
		r.expect(t, fmt.Sprintf("tick %d\n", i))
	}
	expectEnd(t, c)
	if e.rec().local() {
		wantReason(t, waitClose(t, e), server.ErrIdleTimeout)
	}
}

func testMaxConns(t *testing.T, e *Env) {
	c1 := dial(t, e.Addr)
	expect(t, c1, "hello\n")
	c2 := dial(t, e.Addr)
	expect(t, c2, "hello\n")
	c3 := dial(t, e.Addr)
	expect(t, c3, "busy: "+server.ErrServerFull.Error()+"\n")
	expectEnd(t, c3)
	if got := e.Service.Stats.ConnsRefused.Load(); got != 1 {
		t.Errorf("Stats.ConnsRefused = %d, want 1", got)
	}
	c1.Close()
	waitClose(t, e)
	c4 := dial(t, e.Addr)
	expect(t, c4, "hello\n")
}

func testMaxConnsPerIP(t *testing.T, e *Env) {
	c1 := dialFrom(t, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, e.Addr)
	expect(t, c1, "hello\n")
	c2 := dialFrom(t, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, e.Addr)
	expect(t, c2, "busy: "+server.ErrTooManyFromIP.Error()+"\n")
	expectEnd(t, c2)
	c3 := dialFrom(t, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, e.Addr)
	expect(t, c3, "hello\n")
}

func testCloseOnce(t *testing.T, e *Env) {
	rec := e.rec()

	a := dial(t, e.Addr) // the handler closes
	write(t, a, "quit\n")
	expect(t, a, "bye\n")
	expectEOF(t, a)
	wantReason(t, waitClose(t, e), nil)
	rec.mu.Lock()
	if !errors.Is(rec.writeAfterClose, server.ErrClosed) {
		t.Errorf("Write after Close returned %v, want %v", rec.writeAfterClose, server.ErrClosed)
	}
	rec.mu.Unlock()

	b := dial(t, e.Addr) // the handler fails; what it wrote first is delivered
	write(t, b, "fail\n")
	expect(t, b, "error\n")
	expectEnd(t, b)
	ev := waitClose(t, e)
	var he *server.HandlerError
	if !errors.As(ev.err, &he) || !errors.Is(ev.err, errFail) {
		t.Errorf("Close reason %v, want a *server.HandlerError wrapping %v", ev.err, errFail)
	}
	if got := e.Service.Stats.HandlerErrors.Load(); got != 1 {
		t.Errorf("Stats.HandlerErrors = %d, want 1", got)
	}

	c := dial(t, e.Addr) // the peer closes
	write(t, c, "x\n")
	expect(t, c, "x\n")
	c.Close()
	wantReason(t, waitClose(t, e), nil)

	if err := e.Shutdown(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.closes) != 3 {
		t.Errorf("Close called for %d connections, want 3", len(rec.closes))
	}
	for id, errs := range rec.closes {
		if len(errs) != 1 {
			t.Errorf("conn %d: Close called %d times (%v), want once", id, len(errs), errs)
		}
	}
}

func testHalfCloseEcho(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	payload := patternBytes(200 << 10)
	write(t, c, string(payload))
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(wait))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read after half-close: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("got %d bytes back after half-close, want the %d sent", len(got), len(payload))
	}
}

func testHalfCloseHandler(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	write(t, c, string(patternBytes(100000)))
	c.CloseWrite()
	expect(t, c, "total 100000\n")
	expectEOF(t, c)
	wantReason(t, waitClose(t, e), nil)
}

func testWriteFile(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	write(t, c, "file\n")
	expect(t, c, "head\n")
	got := readN(t, c, fileLen)
	for i := range got {
		if got[i] != pattern(fileOff+i) {
			t.Fatalf("file byte %d is %q, want %q", i, got[i], pattern(fileOff+i))
		}
	}
	expect(t, c, "tail\n")
	write(t, c, "quit\n")
	expect(t, c, "bye\n")
	expectEOF(t, c)
	waitClose(t, e)
	rec := e.rec()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, f := range rec.files {
		if err := f.Close(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("file handed to WriteFile still open after it was sent (Close: %v)", err)
		}
	}
}

// shutdownAsync shuts the engine down while clients still read.
func shutdownAsync(t *testing.T, e *Env) chan error {
	done := make(chan error, 1)
	go func() {
		e.shutdown()
		select {
		case err := <-e.served:
			e.served <- err
			done <- err
		case <-time.After(wait):
			done <- errors.New("Serve did not return after shutdown")
		}
	}()
	return done
}

func testShutdown(t *testing.T, e *Env) {
	a := dial(t, e.Addr)
	write(t, a, "big 6000000\n") // queued output in flight at shutdown
	<-e.rec().data
	b := dial(t, e.Addr)
	write(t, b, "x\n")
	expect(t, b, "x\n")
	done := shutdownAsync(t, e)
	expect(t, b, "bye\n") // the Drainer's goodbye
	expectEOF(t, b)
	expect(t, a, string(patternBytes(6000000)))
	expect(t, a, "bye\n")
	expectEOF(t, a)
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if c, err := net.DialTimeout("tcp", e.Addr, time.Second); err == nil {
		c.Close()
		t.Errorf("dial after shutdown succeeded, want refused")
	}
}

func testShutdownFlushes(t *testing.T, e *Env) {
	a := dial(t, e.Addr)
	write(t, a, "big 6000000\n")
	<-e.rec().data
	done := shutdownAsync(t, e)
	expect(t, a, string(patternBytes(6000000)))
	expectEOF(t, a)
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func testDrainTimeout(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	write(t, c, "x\n")
	expect(t, c, "x\n")
	start := time.Now()
	if err := e.Shutdown(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if d := time.Since(start); d < e.Service.Limits.DrainTimeout {
		t.Errorf("Serve returned after %v, before the drain timeout %v", d, e.Service.Limits.DrainTimeout)
	}
	wantReason(t, waitClose(t, e), server.ErrShutdown)
	expectEnd(t, c)
}

// testDrainReadOn: a Drainer that resumes reading gets the rest of a line
// that was under way at shutdown, and its own close ends the connection
// cleanly, well before the drain timeout.
func testDrainReadOn(t *testing.T, e *Env) {
	a := dial(t, e.Addr)
	write(t, a, "x\n")
	expect(t, a, "x\n")
	write(t, a, "par") // kept, unconsumed, whether it arrives before the drain or after
	done := shutdownAsync(t, e)
	expect(t, a, "draining\n")
	write(t, a, "tial\n")
	expect(t, a, "partial\nbye\n")
	expectEOF(t, a)
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if e.rec().local() {
		wantReason(t, waitClose(t, e), nil)
	}
}

// testDrainReadOnCut: a Drainer reading on for a line that never completes
// is cut at the drain timeout.
func testDrainReadOnCut(t *testing.T, e *Env) {
	b := dial(t, e.Addr)
	write(t, b, "y\n")
	expect(t, b, "y\n")
	write(t, b, "never")
	start := time.Now()
	done := shutdownAsync(t, e)
	expect(t, b, "draining\n")
	expectEnd(t, b)
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if d := time.Since(start); d < e.Service.Limits.DrainTimeout {
		t.Errorf("Serve returned after %v, before the drain timeout %v", d, e.Service.Limits.DrainTimeout)
	}
	if e.rec().local() {
		wantReason(t, waitClose(t, e), server.ErrShutdown)
	}
}

func testStats(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	payload := string(patternBytes(10000))
	write(t, c, payload)
	expect(t, c, payload)
	c.Close()
	waitClose(t, e)
	st := e.Service.Stats
	for _, x := range []struct {
		name      string
		got, want int64
	}{
		{"BytesIn", st.BytesIn.Load(), 10000},
		{"BytesOut", st.BytesOut.Load(), 10000},
		{"ConnsTotal", st.ConnsTotal.Load(), 1},
		{"ConnsOpen", st.ConnsOpen.Load(), 0},
	} {
		if x.got != x.want {
			t.Errorf("Stats.%s = %d, want %d", x.name, x.got, x.want)
		}
	}
}

// lineReader reads the contract handler's answers line by line.
type lineReader struct {
	c net.Conn
	r *bufio.Reader
}

func newLineReader(c net.Conn) *lineReader { return &lineReader{c, bufio.NewReader(c)} }

func (l *lineReader) expect(t *testing.T, want string) {
	t.Helper()
	l.c.SetReadDeadline(time.Now().Add(wait))
	got, err := l.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read %q: %v (got %q)", want, err, trunc(got))
	}
	if got != want {
		t.Fatalf("read %q, want %q", trunc(got), want)
	}
}

func (l *lineReader) line(t *testing.T) string {
	t.Helper()
	l.c.SetReadDeadline(time.Now().Add(wait))
	got, err := l.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read a line: %v (got %q)", err, trunc(got))
	}
	return got
}

func testTimer(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	r := newLineReader(c)

	// It fires, not before its time ("early by" otherwise).
	write(t, c, "timer a 50\n")
	r.expect(t, "armed a\n")
	r.expect(t, "fired a\n")

	// Cancelled, it does not fire: the peer waits past its deadline and
	// sees the answer to its next line, not the timer.
	write(t, c, "timer b 50\ncancel\n")
	r.expect(t, "armed b\n")
	r.expect(t, "cancelled\n")
	time.Sleep(300 * time.Millisecond) // how long it has to (not) fire
	write(t, c, "ws ping\n")
	r.expect(t, "ping\n")

	// Arming again replaces the deadline: one call, for the later one.
	write(t, c, "timer c 20\ntimer d 80\n")
	r.expect(t, "armed c\n")
	r.expect(t, "armed d\n")
	r.expect(t, "fired d\n")
	write(t, c, "ws ping\n")
	r.expect(t, "ping\n")

	// Not after Close: the handler closes with a timer armed.
	write(t, c, "timer e 50\nquit\n")
	r.expect(t, "armed e\n")
	r.expect(t, "bye\n")
	if rest, err := io.ReadAll(r.r); err != nil || len(rest) > 0 {
		t.Fatalf("after bye: %q, %v; want a clean end", rest, err)
	}
	rec := e.rec()
	if !rec.local() {
		return // the handler ran in another process
	}
	waitClose(t, e)
	time.Sleep(200 * time.Millisecond) // past the timer's deadline
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.lateTimers > 0 {
		t.Errorf("Timer called %d times after Close", rec.lateTimers)
	}
}

func testTimerNeverDuringData(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	r := newLineReader(c)
	write(t, c, "spin\n") // the timer fires every millisecond from now on
	r.expect(t, "spinning\n")
	// Data calls, many, while it fires, until it has fired often enough.
	burst := strings.Repeat("ws x\n", 50) + "count\n"
	deadline := time.Now().Add(wait)
	for {
		write(t, c, burst)
		for range 50 {
			r.expect(t, "x\n")
		}
		var timers, overlaps int
		line := r.line(t)
		if _, err := fmt.Sscanf(line, "count %d %d\n", &timers, &overlaps); err != nil {
			t.Fatalf("count: %q: %v", line, err)
		}
		if overlaps > 0 {
			t.Fatalf("%d callbacks began while another of the connection's was running (%d timers so far)", overlaps, timers)
		}
		if timers >= 100 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the timer fired %d times in %v, want 100", timers, wait)
		}
	}
}

func testPauseRead(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	r := newLineReader(c)
	// The handler pauses reading and resumes a second later, from its
	// timer; then it echoes.
	write(t, c, "pause 1000\n")
	r.expect(t, "paused\n")
	// More than the kernel's buffers can hold: while reading is paused
	// the peer's writes must block.
	const total = 32 << 20
	payload := patternBytes(total)
	var written atomic.Int64
	werr := make(chan error, 1)
	go func() {
		c.SetWriteDeadline(time.Now().Add(2 * wait))
		for off := 0; off < total; off += 64 << 10 {
			n, err := c.Write(payload[off : off+64<<10])
			written.Add(int64(n))
			if err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	// The first thing after the pause is the resumption: no Data call
	// came while paused ("data while paused" otherwise).
	r.expect(t, "resumed\n")
	if w := written.Load(); w >= total {
		t.Errorf("the peer wrote all %d bytes while reading was paused; want its writes to block", w)
	}
	// Then everything, in order.
	c.SetReadDeadline(time.Now().Add(2 * wait))
	got := make([]byte, total)
	if _, err := io.ReadFull(r.r, got); err != nil {
		t.Fatalf("read the echo after resuming: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("the echo after resuming differs from what was sent")
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
}

func testDrained(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	r := newLineReader(c)
	// Asked with nothing queued: at once.
	write(t, c, "notify\n")
	r.expect(t, "drained 0\n")

	// Asked with more queued than the kernel's buffers hold: only once
	// the peer has read it down to the low-water mark.
	const n = 16 << 20
	write(t, c, "flood "+strconv.Itoa(n)+"\n")
	c.SetReadDeadline(time.Now().Add(2 * wait))
	got := make([]byte, n)
	if _, err := io.ReadFull(r.r, got); err != nil {
		t.Fatalf("read the flood: %v", err)
	}
	line := r.line(t)
	var queued int
	if _, err := fmt.Sscanf(line, "drained %d\n", &queued); err != nil {
		t.Fatalf("after the flood: %q, want drained: %v", line, err)
	}
	if low := e.Service.Limits.LowWater(); queued > low {
		t.Errorf("Drained called with %d bytes queued, above the low-water mark %d", queued, low)
	}
	write(t, c, "ws still here\n")
	r.expect(t, "still here\n")
}

// testDrainedMark: Drained comes at the mark the handler names, not the
// low-water mark: at once for a mark above what is queued, though the peer
// reads nothing; only when all is sent for a mark of 0. It watches for
// Drained in the handler's recorder, so it needs the handler in the test's
// process.
func testDrainedMark(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	r := newLineReader(c)
	// More than the kernel's buffers hold, so most of it stays queued
	// while the peer does not read.
	const n = 32 << 20
	for _, mark := range []int{n, 0} {
		write(t, c, "flood "+strconv.Itoa(n)+" "+strconv.Itoa(mark)+"\n")
		if mark > 0 {
			// Drained is due after the flood's own callback: the
			// peer reads nothing until it has come.
			select {
			case <-e.rec().drained:
			case <-time.After(wait):
				t.Fatalf("mark %d: no Drained within %v while the peer does not read", mark, wait)
			}
		}
		c.SetReadDeadline(time.Now().Add(2 * wait))
		if _, err := io.CopyN(io.Discard, r.r, n); err != nil {
			t.Fatalf("read the flood: %v", err)
		}
		line := r.line(t)
		var queued int
		if _, err := fmt.Sscanf(line, "drained %d\n", &queued); err != nil {
			t.Fatalf("after the flood: %q, want drained: %v", line, err)
		}
		switch low := e.Service.Limits.LowWater(); {
		case queued > mark:
			t.Errorf("mark %d: Drained called with %d bytes queued", mark, queued)
		case mark > 0 && queued <= low:
			t.Errorf("mark %d: Drained called with %d bytes queued, after the peer read down to the low-water mark %d: the mark was not heeded", mark, queued, low)
		}
	}
	write(t, c, "ws still here\n")
	r.expect(t, "still here\n")
}

func testHandlerPanic(t *testing.T, e *Env) {
	// A panic in Data, Timer, Drained and Close: each closes its own
	// connection only, and the service goes on.
	cmds := []string{"panic", "timer-panic", "drained-panic", "close-panic"}
	for _, cmd := range cmds {
		c := dial(t, e.Addr)
		r := newLineReader(c)
		write(t, c, "ws before "+cmd+"\n")
		r.expect(t, "before "+cmd+"\n")
		write(t, c, cmd+"\n")
		if cmd == "close-panic" {
			r.expect(t, "bye\n")
		}
		expectEnd(t, c)
		c2 := dial(t, e.Addr)
		write(t, c2, "ws after "+cmd+"\n")
		newLineReader(c2).expect(t, "after "+cmd+"\n")
		c2.Close()
	}
	waitPanics(t, e, int64(len(cmds)))
	rec := e.rec()
	if !rec.local() {
		return // the log is the child process's
	}
	var errorLines []string
	for line := range strings.Lines(rec.log.String()) {
		if strings.Contains(line, "level=ERROR") {
			errorLines = append(errorLines, line)
		}
	}
	if len(errorLines) != len(cmds) {
		t.Errorf("%d error lines, want one per panic:\n%s", len(errorLines), strings.Join(errorLines, ""))
	}
	for _, line := range errorLines {
		if !strings.Contains(line, panicValue) {
			t.Errorf("error line without the panic's value: %s", line)
		}
	}
	if !strings.Contains(rec.log.String(), "level=DEBUG msg=\"handler panic: stack\"") {
		t.Errorf("no stack logged at debug level:\n%s", rec.log.String())
	}
}

// waitPanics waits for every connection to be gone and checks n panics
// were counted.
func waitPanics(t *testing.T, e *Env, n int64) {
	t.Helper()
	st := e.Service.Stats
	deadline := time.Now().Add(wait)
	for st.HandlerPanics.Load() < n || st.ConnsOpen.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Stats.HandlerPanics = %d, want %d", st.HandlerPanics.Load(), n)
		}
		time.Sleep(10 * time.Millisecond) // counters, not events: poll
	}
	if got := st.HandlerPanics.Load(); got != n {
		t.Errorf("Stats.HandlerPanics = %d, want %d", got, n)
	}
}

// testRefusePanic turns a peer away at the connection limit with a handler
// whose Refuse panics.
func testRefusePanic(t *testing.T, e *Env) {
	a := dial(t, e.Addr)
	write(t, a, "ws first\n")
	expect(t, a, "first\n")
	b := dial(t, e.Addr)
	expectEOF(t, b) // refused, without words
	write(t, a, "ws still here\n")
	expect(t, a, "still here\n")
	a.Close()
	waitPanics(t, e, 1)
	if got := e.Service.Stats.ConnsRefused.Load(); got != 1 {
		t.Errorf("Stats.ConnsRefused = %d, want 1", got)
	}
}

// testOpenPanic serves with a handler whose Open panics: each connection
// is closed, Close still comes once, and the next is accepted.
func testOpenPanic(t *testing.T, e *Env) {
	for range 2 {
		expectEnd(t, dial(t, e.Addr))
	}
	waitPanics(t, e, 2)
	rec := e.rec()
	if !rec.local() {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for id, errs := range rec.closes {
		var pe *server.PanicError
		if len(errs) != 1 || !errors.As(errs[0], &pe) {
			t.Errorf("conn %d: Close reasons %v, want one *server.PanicError", id, errs)
		}
	}
}

func testWriteString(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	write(t, c, "ws hello\nws world\n")
	expect(t, c, "hello\nworld\n")
}

// testResetPeers resets connections as soon as they are made: by the time
// the engine asks, such a socket may have no peer address left, and a
// handler that logs its peer's address must still not crash.
func testResetPeers(t *testing.T, e *Env) {
	const n = 100
	for range n {
		c := dial(t, e.Addr)
		c.SetLinger(0) // close sends RST
		c.Close()
	}
	c := dial(t, e.Addr)
	write(t, c, "ws still here\n")
	expect(t, c, "still here\n")
	c.Close()
	st := e.Service.Stats
	deadline := time.Now().Add(wait)
	for st.ConnsOpen.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open", st.ConnsOpen.Load())
		}
		time.Sleep(10 * time.Millisecond) // counters, not events: poll
	}
	if got := st.HandlerPanics.Load(); got != 0 {
		t.Errorf("Stats.HandlerPanics = %d after peers reset, want 0", got)
	}
}

// testFromGoroutine asks for a timer, Drained and a pause from a goroutine
// of the handler's own, not from a callback.
func testFromGoroutine(t *testing.T, e *Env) {
	c := dial(t, e.Addr)
	r := newLineReader(c)
	write(t, c, "go-timer a 50\n")
	r.expect(t, "armed a\n")
	r.expect(t, "fired a\n")

	write(t, c, "go-notify\n")
	r.expect(t, "drained 0\n")

	write(t, c, "go-pause 300\n")
	r.expect(t, "paused\n")
	const total = 8 << 20
	payload := patternBytes(total)
	werr := make(chan error, 1)
	go func() {
		c.SetWriteDeadline(time.Now().Add(2 * wait))
		_, err := c.Write(payload)
		werr <- err
	}()
	r.expect(t, "resumed\n") // and no "data while paused" before it
	c.SetReadDeadline(time.Now().Add(2 * wait))
	got := make([]byte, total)
	if _, err := io.ReadFull(r.r, got); err != nil {
		t.Fatalf("read the echo after resuming: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("the echo after resuming differs from what was sent")
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
}
