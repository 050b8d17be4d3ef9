//go:build linux

package readiness

import (
	"math/bits"
	"time"

	"golang.org/x/sys/unix"
)

// selectWaiter asks select(2). Its interest is two bitmaps of FDSetSize
// bits, copied for each call because the kernel overwrites them with the
// answer; the kernel examines every descriptor up to the highest watched,
// and so does the loop when it reads the answer back.
type selectWaiter struct {
	rd, wr   unix.FdSet // interest
	interest [FDSetSize]uint8
	max      int // the highest watched descriptor, -1 for none
	r, w     unix.FdSet
}

func newSelectWaiter() *selectWaiter { return &selectWaiter{max: -1} }

func (s *selectWaiter) fits(fd int) bool { return fd >= 0 && fd < FDSetSize }

func (s *selectWaiter) watch(fd int, ev uint8) error {
	if !s.fits(fd) {
		return ErrDescriptorLimit
	}
	if s.interest[fd] == ev {
		return nil
	}
	s.interest[fd] = ev
	set := func(fs *unix.FdSet, on bool) {
		if on {
			fs.Set(fd)
		} else {
			fs.Clear(fd)
		}
	}
	set(&s.rd, ev&evRead != 0)
	set(&s.wr, ev&evWrite != 0)
	switch {
	case ev != 0 && fd > s.max:
		s.max = fd
	case ev == 0 && fd == s.max:
		for s.max >= 0 && s.interest[s.max] == 0 {
			s.max--
		}
	}
	return nil
}

const nfdBits = 64 // bits per word of unix.FdSet on Linux

func (s *selectWaiter) wait(timeout int, evs []event) ([]event, error) {
	s.r, s.w = s.rd, s.wr
	var tv *unix.Timeval
	if timeout >= 0 {
		t := unix.NsecToTimeval(int64(timeout) * int64(time.Millisecond))
		tv = &t
	}
	n, err := unix.Select(s.max+1, &s.r, &s.w, nil, tv)
	if err != nil || n == 0 {
		return evs, err
	}
	// The answer is the same bitmaps: walk their words up to the highest
	// descriptor, skipping empty ones.
	for i := 0; i <= s.max/nfdBits; i++ {
		rw, ww := uint64(s.r.Bits[i]), uint64(s.w.Bits[i])
		for word := rw | ww; word != 0; word &= word - 1 {
			b := bits.TrailingZeros64(word)
			var ev uint8
			if rw&(1<<b) != 0 {
				ev |= evRead
			}
			if ww&(1<<b) != 0 {
				ev |= evWrite
			}
			evs = append(evs, event{fd: int32(i*nfdBits + b), ev: ev})
		}
	}
	return evs, nil
}
