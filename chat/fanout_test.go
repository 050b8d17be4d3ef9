package chat

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// sink stands in for a connection: it copies what it is given, as
// Conn.Write does, and counts the lines.
type sink struct {
	mu  sync.Mutex
	buf []byte
	n   atomic.Int64
}

func (s *sink) Write(b []byte) error {
	s.mu.Lock()
	s.buf = append(s.buf[:0], b...)
	s.mu.Unlock()
	s.n.Add(int64(bytes.Count(b, []byte("\n"))))
	return nil
}

func (s *sink) Close() error { return nil }

type nopDoor struct{}

func (nopDoor) Ping(*Member)         {}
func (nopDoor) Kick(*Member, string) {}

// room fills a room of n members, half on the line door and half on IRC
// with server-time, and returns them with their sinks.
func room(tb testing.TB, h *Hub, n int) ([]*Member, []*sink) {
	tb.Helper()
	var ms []*Member
	var ss []*sink
	for i := range n {
		s := new(sink)
		f := h.lineFmt
		if i%2 == 1 {
			f = h.ircFmt[capServerTime]
		}
		m := h.NewMember(s, nopDoor{}, f, false)
		if err := h.Register(m, fmt.Sprintf("m%d", i), "u@h", "r", nil); err != nil {
			tb.Fatal(err)
		}
		if err := h.Join(m, "bench", nil, nil); err != nil {
			tb.Fatal(err)
		}
		ms = append(ms, m)
		ss = append(ss, s)
	}
	return ms, ss
}

// BenchmarkFanout: one op is one message said in a room and written to
// every other member.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			h := New(Options{FloodRate: -1, Replay: -1, MaxPending: 1 << 30})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { h.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			ms, ss := room(b, h, n)
			last := ss[n-1]
			base := last.n.Load()
			b.ReportAllocs()
			sent := int64(0)
			for b.Loop() {
				// Batches of 100, as a busy room has them.
				for range 100 {
					if err := h.Say(ms[0], "bench", Say, "the quick brown fox jumps over the lazy dog"); err != nil {
						b.Fatal(err)
					}
				}
				sent += 100
				for last.n.Load()-base < sent {
					runtime.Gosched()
				}
			}
			b.ReportMetric(float64(sent)*float64(n-1)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// TestFanoutOnce: every member but the sender gets each message once, and
// one encoding serves each format.
func TestFanoutOnce(t *testing.T) {
	h := New(Options{FloodRate: -1, Replay: -1})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	ms, ss := room(t, h, 50)
	for range 10 {
		h.Say(ms[0], "bench", Say, "hi")
	}
	deadline := time.Now().Add(10 * time.Second)
	for ss[49].n.Load() < 1+10 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	// Joins differ by member; messages do not.
	if got := ss[0].n.Load(); got != 50 {
		t.Errorf("the sender was written %d times, want its 50 joins only", got)
	}
	for i, s := range ss[1:] {
		if got, want := s.n.Load(), int64(50-i-1)+10; got != want {
			t.Errorf("member %d was written %d times, want %d", i+1, got, want)
		}
	}
}

// TestMemberSize keeps an idle client's state small: 15,000 idle IRC
// clients should cost a few KB each, all told.
func TestMemberSize(t *testing.T) {
	if got := unsafe.Sizeof(ircConn{}); got > 400 {
		t.Errorf("an IRC client's state is %d bytes; keep it under 400", got)
	}
	if got := unsafe.Sizeof(lineConn{}); got > 400 {
		t.Errorf("a line client's state is %d bytes; keep it under 400", got)
	}
}
