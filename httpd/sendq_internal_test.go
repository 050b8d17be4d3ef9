package httpd

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSendQueueMark: the queue is full after the engine reports q bytes
// queued exactly when q is above mark, for any mix of bytes and files
// written and any earlier report: Drained at the mark is the moment the
// connection may go on, neither before nor after.
func TestSendQueueMark(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var q sendQueue
		for range rng.IntN(30) {
			if rng.IntN(2) == 0 {
				q.wroteFile(rng.Int64N(300 << 10))
			} else {
				q.wroteBytes(rng.IntN(200 << 10))
			}
			if rng.IntN(5) == 0 { // a report from the engine on the way
				q.update(int(rng.Int64N(q.wrote - q.sent + 1)))
			}
		}
		mark := q.mark()
		outstanding := q.wrote - q.sent
		for _, queued := range []int64{0, int64(mark) - 1, int64(mark), int64(mark) + 1, outstanding, rng.Int64N(outstanding + 1)} {
			if queued < 0 || queued > outstanding {
				continue
			}
			c := q
			c.ends = slices.Clone(q.ends)
			c.update(int(queued))
			if full, want := c.full(), queued > int64(mark); full != want {
				t.Fatalf("wrote %d, sent %d, files ending at %v: mark %d, with %d queued full=%t", q.wrote, q.sent, q.ends, mark, queued, full)
			}
		}
	}
}
