//go:build linux

package uring

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func newTestRing(t *testing.T, entries uint32) *ring {
	t.Helper()
	r, err := newRing(entries, 8, 256, false)
	if err != nil {
		t.Fatalf("newRing: %v", err)
	}
	t.Cleanup(r.close)
	return r
}

// reapAll waits for completions until want user data values have been
// seen, each once.
func reapAll(t *testing.T, r *ring, want int) map[uint64]int32 {
	t.Helper()
	got := make(map[uint64]int32)
	for len(got) < want {
		if _, err := r.enter(true, int64(5e9)); err != nil {
			t.Fatal(err)
		}
		if r.ready() == 0 {
			t.Fatalf("no completion within 5s; have %d of %d", len(got), want)
		}
		for e, ok := r.next(); ok; e, ok = r.next() {
			if _, dup := got[e.userData]; dup {
				t.Fatalf("completion %d twice", e.userData)
			}
			got[e.userData] = e.res
		}
	}
	return got
}

func TestRingNop(t *testing.T) {
	r := newTestRing(t, 8)
	for i := range 3 {
		s, err := r.get()
		if err != nil {
			t.Fatal(err)
		}
		s.opcode = opNop
		s.userData = uint64(100 + i)
	}
	got := reapAll(t, r, 3)
	for i := range 3 {
		if res, ok := got[uint64(100+i)]; !ok || res != 0 {
			t.Errorf("nop %d: res %d, completed %v", i, res, ok)
		}
	}
}

// TestRingFull queues far more requests than the submission ring holds,
// and than the completion ring holds: get submits when the ring is full,
// and every request completes exactly once.
func TestRingFull(t *testing.T) {
	r := newTestRing(t, 4)
	const n = 1000
	if len(r.sqes) >= n {
		t.Fatalf("ring of %d entries; the test wants fewer than %d", len(r.sqes), n)
	}
	for i := range n {
		s, err := r.get()
		if err != nil {
			t.Fatal(err)
		}
		s.opcode = opNop
		s.userData = uint64(i + 1)
	}
	got := reapAll(t, r, n)
	for i := range n {
		if _, ok := got[uint64(i+1)]; !ok {
			t.Fatalf("request %d never completed", i+1)
		}
	}
}

// TestRingRecvProvidedBuffer receives through the provided-buffer ring,
// gives the buffer back, and receives into it again.
func TestRingRecvProvidedBuffer(t *testing.T) {
	r := newTestRing(t, 8)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	for round := range 20 { // more rounds than buffers: they must come back
		s, _ := r.get()
		s.opcode = opRecv
		s.fd = int32(fds[0])
		s.flags = sqeBufferSelect
		s.bufIndex = bufGroup
		s.userData = 1
		msg := strings.Repeat("x", round+1)
		if _, err := unix.Write(fds[1], []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.enter(true, int64(5e9)); err != nil {
			t.Fatal(err)
		}
		if r.ready() != 1 {
			t.Fatalf("round %d: %d completions", round, r.ready())
		}
		e, _ := r.next()
		if e.res < 0 {
			t.Fatalf("round %d: recv: %v", round, unix.Errno(-e.res))
		}
		if e.flags&cqeFBuffer == 0 {
			t.Fatalf("round %d: no buffer in the completion", round)
		}
		bid := uint16(e.flags >> cqeBufShift)
		if got := string(r.buf(bid, int(e.res))); got != msg {
			t.Fatalf("round %d: got %q, want %q", round, got, msg)
		}
		r.putBuf(bid)
		r.publishBufs()
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func countMaps(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// TestRingSetupFailure fails the setup after each of its steps in turn:
// each failure is reported, and no descriptor or mapping is left behind.
func TestRingSetupFailure(t *testing.T) {
	steps := []string{"setup", "mmap rings", "mmap sqes", "mmap buffers", "register buffers"}
	defer func() { failAfter = nil }()
	for _, st := range steps {
		forced := errors.New("forced failure after " + st)
		failAfter = func(s string) error {
			if s == st {
				return forced
			}
			return nil
		}
		// Warm up whatever the first call allocates, then count.
		newRing(8, 8, 256, false)
		fds, maps := countFDs(t), countMaps(t)
		for range 20 {
			r, err := newRing(8, 8, 256, false)
			if !errors.Is(err, forced) || r != nil {
				t.Fatalf("after %s: got %v, %v; want the forced error", st, r, err)
			}
		}
		if got := countFDs(t); got != fds {
			t.Errorf("after %s: %d descriptors open, %d before", st, got, fds)
		}
		// The Go runtime may map memory meanwhile; twenty leaked
		// setups would leave at least twenty mappings more.
		if got := countMaps(t); got >= maps+20 {
			t.Errorf("after %s: %d mappings, %d before", st, got, maps)
		}
	}
}

// TestRingStash moves completions aside, as get does when the kernel
// refuses submissions, and checks next hands them out first, in order,
// then the newer ones.
func TestRingStash(t *testing.T) {
	r := newTestRing(t, 8)
	nop := func(ud uint64) {
		s, err := r.get()
		if err != nil {
			t.Fatal(err)
		}
		s.opcode = opNop
		s.userData = ud
	}
	nop(1)
	nop(2)
	if _, err := r.enter(true, int64(5e9)); err != nil {
		t.Fatal(err)
	}
	for r.cqReady() < 2 {
		if _, err := r.enter(true, int64(5e9)); err != nil {
			t.Fatal(err)
		}
	}
	r.stashReady()
	nop(3)
	for r.cqReady() < 1 {
		if _, err := r.enter(true, int64(5e9)); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.ready(); got != 3 {
		t.Fatalf("ready %d, want 3", got)
	}
	for _, want := range []uint64{1, 2, 3} {
		e, ok := r.next()
		if !ok || e.userData != want {
			t.Fatalf("next: %d, %v; want %d", e.userData, ok, want)
		}
	}
	if _, ok := r.next(); ok {
		t.Fatal("a completion after the last")
	}
}
