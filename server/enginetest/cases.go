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
	"sync"
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
