package chat

import "sync/atomic"

// Stats counts what the hub does with messages, for metrics. The hub only
// adds to it; members and rooms are read at scrape time (Hub.Counts).
type Stats struct {
	Messages   atomic.Int64 // room messages delivered to their rooms, in order
	Deliveries atomic.Int64 // messages written to members (one message to ten members: ten)
	// Messages and lines dropped, by reason.
	DroppedFlood   atomic.Int64 // lines dropped by flood control
	DroppedBusy    atomic.Int64 // messages refused with ErrBusy: too many waiting for the backend
	DroppedNotKept atomic.Int64 // messages the backend could not keep, so shown to no one
	DroppedInvalid atomic.Int64 // messages from other nodes that break the text rules
}
