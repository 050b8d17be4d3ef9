//go:build linux

package readiness

// waiter is the one part of the loop that differs between the engines: how
// it tells the kernel which descriptors it watches and asks which are
// ready.
type waiter interface {
	// watch sets fd's interest to ev (evRead, evWrite or both); 0 stops
	// watching fd, which the loop does before closing it.
	watch(fd int, ev uint8) error
	// wait sleeps until a watched descriptor is ready, or timeout ms have
	// passed (-1: no bound), and appends the ready ones to evs.
	wait(timeout int, evs []event) ([]event, error)
	// fits reports whether fd can be watched at all.
	fits(fd int) bool
}

// event is one ready descriptor.
type event struct {
	fd int32
	ev uint8
}

// Readiness bits, the waiters' common language.
const (
	evRead  = 1 << iota // readable, or at EOF
	evWrite             // writable
	evHup               // an error or hang-up (poll only: select reports these as readable or writable)
)

func newWaiter(k kind) waiter {
	if k == kindSelect {
		return newSelectWaiter()
	}
	return newPollWaiter()
}
