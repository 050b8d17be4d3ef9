package httpd

// A file queued for sending holds a descriptor until it is sent, so a
// client that pipelines requests for large files and never reads could pin
// one per request. A connection therefore goes on with its pipelined
// requests only while fewer than maxQueuedFiles files and at most
// resumeBelow bytes are queued; otherwise it stalls, and its input waits,
// until enough is sent.
//
// Which files are still queued is worked out from the bytes sent: the
// engine reports what is queued, and sendQueue knows, for each file, how
// many bytes had been handed to the engine once it was queued. When the
// engine has sent that many, the file is sent (and closed). A stalled
// connection pauses reading and asks the engine to say when its queue is
// down to the level at which it is no longer full (NotifyDrained with
// sendQueue.mark); Drained then goes on with it (unstall).

const (
	// maxQueuedFiles bounds the files one connection has queued and not
	// yet sent before its further requests wait.
	maxQueuedFiles = 8
	// resumeBelow is the queued output above which a connection's further
	// requests wait.
	resumeBelow = 1 << 20
)

// sendQueue tracks what a connection handed to the engine.
type sendQueue struct {
	wrote int64   // bytes handed to the engine
	sent  int64   // bytes known sent: wrote less what was last reported queued
	ends  []int64 // for each file not known sent, wrote once it was queued
}

// wroteBytes counts n bytes queued.
func (q *sendQueue) wroteBytes(n int) { q.wrote += int64(n) }

// wroteFile counts a file of n bytes queued.
func (q *sendQueue) wroteFile(n int64) {
	q.wrote += n
	q.ends = append(q.ends, q.wrote)
}

// update takes the engine's report of the bytes queued.
func (q *sendQueue) update(queued int) {
	q.sent = max(q.sent, q.wrote-int64(queued))
	i := 0
	for i < len(q.ends) && q.ends[i] <= q.sent {
		i++
	}
	if i > 0 {
		q.ends = append(q.ends[:0], q.ends[i:]...)
	}
}

// mayBeFull reports whether the queue could be over its bounds, without
// asking the engine: it cannot be with no file queued and less than
// resumeBelow written since the last report.
func (q *sendQueue) mayBeFull() bool {
	return len(q.ends) > 0 || q.wrote-q.sent > resumeBelow
}

// full reports whether, after update, the connection must wait.
func (q *sendQueue) full() bool {
	return len(q.ends) >= maxQueuedFiles || q.wrote-q.sent > resumeBelow
}

// mark returns the queued bytes at or below which, once the engine
// reports them, the queue is no longer full: at most resumeBelow, and for
// maxQueuedFiles files or more, what is queued once enough of them are
// sent that fewer than maxQueuedFiles remain.
func (q *sendQueue) mark() int {
	m := int64(resumeBelow)
	if k := len(q.ends) - maxQueuedFiles; k >= 0 {
		m = min(m, q.wrote-q.ends[k])
	}
	return int(m)
}

// queueFull reports whether the connection must wait for its output to be
// sent before it answers another request; mu is held.
func (cn *conn) queueFull() bool {
	if !cn.sq.mayBeFull() {
		return false
	}
	cn.sq.update(cn.c.Queued())
	return cn.sq.full()
}
