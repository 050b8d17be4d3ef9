//go:build linux

package readiness

import "golang.org/x/sys/unix"

// pollWaiter asks poll(2). Its interest is an array of pollfd records, one
// per watched descriptor, patched in place as interest changes (a record
// leaving is replaced by the last). There is no ceiling on descriptors; but
// the whole array goes to the kernel on every call, which checks each
// record, and the loop scans each for the few the kernel marked ready.
type pollWaiter struct {
	fds []unix.PollFd
	at  []int32 // by descriptor: its index in fds, -1 if not watched
}

func newPollWaiter() *pollWaiter { return &pollWaiter{} }

func (p *pollWaiter) fits(fd int) bool { return fd >= 0 }

func (p *pollWaiter) watch(fd int, ev uint8) error {
	if fd >= len(p.at) {
		at := make([]int32, max(2*len(p.at), fd+1, 64))
		n := copy(at, p.at)
		for i := n; i < len(at); i++ {
			at[i] = -1
		}
		p.at = at
	}
	var events int16
	if ev&evRead != 0 {
		events |= unix.POLLIN
	}
	if ev&evWrite != 0 {
		events |= unix.POLLOUT
	}
	i := p.at[fd]
	switch {
	case ev == 0 && i >= 0:
		last := len(p.fds) - 1
		p.fds[i] = p.fds[last]
		p.at[p.fds[i].Fd] = i
		p.fds = p.fds[:last]
		p.at[fd] = -1
	case ev == 0:
	case i >= 0:
		p.fds[i].Events = events
	default:
		p.at[fd] = int32(len(p.fds))
		p.fds = append(p.fds, unix.PollFd{Fd: int32(fd), Events: events})
	}
	return nil
}

func (p *pollWaiter) wait(timeout int, evs []event) ([]event, error) {
	n, err := unix.Poll(p.fds, timeout)
	if err != nil || n == 0 {
		return evs, err
	}
	for i := range p.fds {
		pf := &p.fds[i]
		if pf.Revents == 0 {
			continue
		}
		var ev uint8
		if pf.Revents&unix.POLLIN != 0 {
			ev |= evRead
		}
		if pf.Revents&unix.POLLOUT != 0 {
			ev |= evWrite
		}
		if pf.Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			ev |= evHup
		}
		pf.Revents = 0
		evs = append(evs, event{fd: pf.Fd, ev: ev})
		if n--; n == 0 {
			break
		}
	}
	return evs, nil
}
