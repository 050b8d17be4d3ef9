package bench

import (
	"fmt"
	"testing"
	"time"
)

// scanRun is a run of 4 senders as member 9 sees it, without connections.
func scanRun() (*chatRun, *chatMember) {
	r := &chatRun{cfg: &ChatConfig{Senders: 4}, tag: []byte("~abc123 "), base: time.Now(), endNs: 1 << 62}
	m := &chatMember{id: 9, buf: make([]byte, 16<<10), next: make([]uint32, 4), seen: make([]uint64, 4),
		sh: &chatShard{lat: newHist()}}
	return r, m
}

// batch is what member 9 receives: n messages from sender 1, counters from
// first, in the line door's or IRC's framing, with a join notice between.
func batch(irc bool, first, n int) []byte {
	var b []byte
	for k := first; k < first+n; k++ {
		if irc {
			b = fmt.Appendf(b, ":b1!b1@127.0.0.1 PRIVMSG #bench :~abc123 1 %d 1000\r\n", k)
		} else {
			b = fmt.Appendf(b, "<b1> ~abc123 1 %d 1000\r\n", k)
		}
		if k%7 == 0 {
			b = append(b, "* b12 joined bench\r\n"...)
		}
	}
	return b
}

// feed hands b to m as reads of the given sizes would.
func feed(r *chatRun, m *chatMember, b []byte, chunk int) {
	for len(b) > 0 {
		if m.have == len(m.buf) {
			m.have = 0 // as read does: a line longer than the buffer is dropped
		}
		n := copy(m.buf[m.have:], b[:min(chunk, len(b))])
		m.have += n
		b = b[n:]
		r.scan(m)
	}
}

func TestChatScan(t *testing.T) {
	for _, tc := range []struct {
		name          string
		in            []byte
		got, dup, ooo int64
		bad           int64
	}{
		{"in order", batch(false, 0, 20), 20, 0, 0, 0},
		{"irc", batch(true, 0, 20), 20, 0, 0, 0},
		{"repeat", append(batch(false, 0, 5), batch(false, 3, 2)...), 5, 2, 0, 0},
		{"late", append(append(batch(false, 0, 2), batch(false, 3, 2)...), batch(false, 2, 1)...), 5, 0, 1, 0},
		{"late then repeated", append(append(batch(false, 0, 2), batch(false, 3, 2)...), batch(false, 2, 2)...), 5, 1, 1, 0},
		{"own message", []byte("<b9> ~abc123 9 0 1000\r\n"), 0, 0, 0, 1},
		{"unknown sender", []byte("<bx> ~abc123 4 0 1000\r\n"), 0, 0, 0, 1},
		{"cut short", []byte("<b1> ~abc123 1 0\r\n"), 0, 0, 0, 1},
		{"another run", []byte("<b1> ~ffffff 1 0 1000\r\n"), 0, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{len(tc.in) + 1, 1, 7} {
				r, m := scanRun()
				feed(r, m, tc.in, chunk)
				if got := m.got.Load(); got != tc.got || m.dup != tc.dup || m.ooo != tc.ooo || m.bad != tc.bad {
					t.Errorf("reads of %d: got %d dup %d ooo %d bad %d; want %d %d %d %d",
						chunk, got, m.dup, m.ooo, m.bad, tc.got, tc.dup, tc.ooo, tc.bad)
				}
			}
		})
	}
}

func TestChatScanAllocs(t *testing.T) {
	r, m := scanRun()
	in := batch(true, 0, 100)
	allocs := testing.AllocsPerRun(50, func() {
		m.next[1], m.seen[1] = 0, 0
		feed(r, m, in, 4096)
	})
	if allocs != 0 {
		t.Errorf("scanning 100 messages: %g allocations; want none", allocs)
	}
}

func BenchmarkChatScan(b *testing.B) {
	for _, irc := range []bool{false, true} {
		b.Run(map[bool]string{false: "door=line", true: "door=irc"}[irc], func(b *testing.B) {
			r, m := scanRun()
			// 64 rounds of 100 messages, fed again and again with the
			// counters reset, so that every message is a first arrival.
			in := batch(irc, 0, 100)
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				m.next[1], m.seen[1] = 0, 0
				feed(r, m, in, 16<<10)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/msg")
		})
	}
}

// FuzzChatScan: a stream split into reads anywhere is checked as if it came
// whole.
func FuzzChatScan(f *testing.F) {
	f.Add(batch(false, 0, 5), 3)
	f.Add(batch(true, 0, 5), 11)
	f.Add(append(batch(false, 0, 3), batch(false, 1, 3)...), 1)
	f.Add([]byte("<b1> ~abc123 1 99999999999999999999999 1\r\n"), 5)
	f.Fuzz(func(t *testing.T, in []byte, chunk int) {
		if chunk <= 0 || len(in) > 8<<10 {
			return
		}
		r1, m1 := scanRun()
		feed(r1, m1, in, len(in)+1)
		r2, m2 := scanRun()
		feed(r2, m2, in, chunk)
		if m1.got.Load() != m2.got.Load() || m1.dup != m2.dup || m1.ooo != m2.ooo || m1.bad != m2.bad {
			t.Errorf("whole: got %d dup %d ooo %d bad %d; in reads of %d: %d %d %d %d",
				m1.got.Load(), m1.dup, m1.ooo, m1.bad, chunk, m2.got.Load(), m2.dup, m2.ooo, m2.bad)
		}
	})
}
