package outq

import "math"

// Mark is a handler's request for word of drained output
// (server.Conn.NotifyDrained): the queue level at which Drained is due.
// The zero Mark is no request. It is an int32, 1 + the level, so that it
// fits in a connection's laid-out struct beside its flags; a level above
// 2 GiB is clamped, which makes Drained come later, never too early. The
// connection's lock guards it.
type Mark int32

// Ask asks for Drained once at most level bytes are queued, replacing any
// earlier request.
func (m *Mark) Ask(level int) { *m = Mark(min(max(level, 0), math.MaxInt32-1) + 1) }

// Asked reports whether a request is pending.
func (m Mark) Asked() bool { return m > 0 }

// Due reports whether Drained is due with queued bytes queued, and if so
// takes the request.
func (m *Mark) Due(queued int64) bool {
	if *m == 0 || queued > int64(*m-1) {
		return false
	}
	*m = 0
	return true
}
