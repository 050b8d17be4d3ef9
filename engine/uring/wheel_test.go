//go:build linux

package uring

import (
	"math/rand/v2"
	"testing"
)

// TestWheel files, moves and cancels random deadlines, near and several
// turns ahead, and checks each fires once, not before its deadline and
// within a tick after it, and that the wheel's next tick is never later
// than the earliest deadline filed.
func TestWheel(t *testing.T) {
	const tick = 10
	w := makeWheel(tick, 64)
	rng := rand.New(rand.NewPCG(1, 2))
	nodes := make([]wnode, 200)
	deadline := make([]int64, len(nodes)) // -1: not filed
	for i := range nodes {
		nodes[i] = wnode{slot: -1}
		deadline[i] = -1
	}
	index := func(x *wnode) int {
		for i := range nodes {
			if &nodes[i] == x {
				return i
			}
		}
		t.Fatal("unknown node")
		return -1
	}
	var now int64
	fired := 0
	for step := 0; step < 20000; step++ {
		i := rng.IntN(len(nodes))
		switch rng.IntN(4) {
		case 0, 1: // file, or move, a deadline up to three turns ahead
			w.remove(&nodes[i])
			deadline[i] = now + 1 + rng.Int64N(3*64*tick)
			w.add(&nodes[i], deadline[i], now)
		case 2:
			w.remove(&nodes[i])
			deadline[i] = -1
		}
		earliest := int64(-1)
		for _, d := range deadline {
			if d >= 0 && (earliest < 0 || d < earliest) {
				earliest = d
			}
		}
		if next := w.next(); earliest >= 0 && (next < 0 || next > earliest+tick) {
			t.Fatalf("step %d: next tick at %d, after the earliest deadline %d", step, next, earliest)
		}
		now += rng.Int64N(3 * tick)
		w.advance(now, func(x *wnode) {
			j := index(x)
			if deadline[j] > now {
				w.add(x, deadline[j], now) // a turn or more ahead
				return
			}
			if now-deadline[j] >= 3*tick+tick {
				t.Fatalf("deadline %d fired late, at %d", deadline[j], now)
			}
			deadline[j] = -1
			fired++
		})
		for j, d := range deadline {
			if d >= 0 && d <= now-tick {
				t.Fatalf("deadline %d not fired by %d (filed: %v)", d, now, nodes[j].slot >= 0)
			}
		}
	}
	if fired == 0 {
		t.Fatal("nothing fired")
	}
}
