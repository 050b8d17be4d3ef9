//go:build linux

package readiness

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWaiters watches many socket pairs' near ends with each waiter, makes
// some readable, stops watching others (poll moves its last record into the
// hole; select lowers its highest descriptor) and checks every wait reports
// exactly the ready ones still watched.
func TestWaiters(t *testing.T) {
	for _, k := range []kind{kindSelect, kindPoll} {
		t.Run(k.String(), func(t *testing.T) {
			w := newWaiter(k)
			const n = 40
			near := make([]int, n)
			far := make([]int, n)
			for i := range n {
				fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
				near[i], far[i] = fds[0], fds[1]
				if err := w.watch(near[i], evRead); err != nil {
					t.Fatal(err)
				}
			}
			ready := func() []int {
				t.Helper()
				evs, err := w.wait(0, nil)
				if err != nil {
					t.Fatal(err)
				}
				var fds []int
				for _, e := range evs {
					if e.ev&evRead == 0 || e.ev&evWrite != 0 {
						t.Errorf("fd %d: events %b, want read only", e.fd, e.ev)
					}
					fds = append(fds, int(e.fd))
				}
				slices.Sort(fds)
				return fds
			}
			if got := ready(); len(got) != 0 {
				t.Fatalf("nothing written, yet ready: %v", got)
			}
			var want []int
			for i := 0; i < n; i += 3 {
				unix.Write(far[i], []byte{'x'})
				want = append(want, near[i])
			}
			slices.Sort(want)
			if got := ready(); !slices.Equal(got, want) {
				t.Fatalf("ready %v, want %v", got, want)
			}
			// Forget the first and the last (the highest descriptor),
			// and ask for writability on one readable end.
			w.watch(near[0], 0)
			w.watch(near[n-1], 0)
			unix.Write(far[n-1], []byte{'x'})
			want = slices.DeleteFunc(want, func(fd int) bool { return fd == near[0] || fd == near[n-1] })
			if got := ready(); !slices.Equal(got, want) {
				t.Fatalf("after forgetting two: ready %v, want %v", got, want)
			}
			w.watch(near[3], evRead|evWrite)
			evs, err := w.wait(0, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if int(e.fd) == near[3] && e.ev != evRead|evWrite {
					t.Errorf("fd %d: events %b, want read and write", e.fd, e.ev)
				}
			}
			w.watch(near[3], evRead)
			// Watched again, a forgotten descriptor is reported again.
			w.watch(near[n-1], evRead)
			if got := ready(); !slices.Contains(got, near[n-1]) {
				t.Fatalf("re-watched fd %d not reported: %v", near[n-1], got)
			}
		})
	}
}

func TestSelectFits(t *testing.T) {
	w := newSelectWaiter()
	if !w.fits(FDSetSize-1) || w.fits(FDSetSize) {
		t.Fatalf("fits: %d %v, %d %v", FDSetSize-1, w.fits(FDSetSize-1), FDSetSize, w.fits(FDSetSize))
	}
	if err := w.watch(FDSetSize, evRead); err != ErrDescriptorLimit {
		t.Fatalf("watch(%d) = %v, want %v", FDSetSize, err, ErrDescriptorLimit)
	}
}
