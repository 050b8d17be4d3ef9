package bench

import (
	"fmt"
	"io"
	"time"
)

// progress is the live one-line display.
type progress struct {
	w        io.Writer
	r        *run
	last     time.Time
	lastDone int64
}

func newProgress(w io.Writer, r *run) *progress { return &progress{w: w, r: r, last: time.Now()} }

func (p *progress) tick() {
	if p.w == nil || time.Since(p.last) < 500*time.Millisecond {
		return
	}
	var done, errs int64
	for _, w := range p.r.workers {
		done += w.done.Load()
		errs += w.nerr.Load()
	}
	now := time.Now()
	rate := float64(done-p.lastDone) / now.Sub(p.last).Seconds()
	p.last, p.lastDone = now, done
	el := time.Duration(p.r.now() - p.r.warm)
	if el < 0 {
		// Warm-up replies are not counted.
		fmt.Fprintf(p.w, "\r\x1b[K%s  warm-up, %.1fs to go", p.r.label, -el.Seconds())
		return
	}
	if p.r.ending.Load() {
		fmt.Fprintf(p.w, "\r\x1b[K%s  %s done, %d errors; waiting for the replies still owed", p.r.label, count(float64(done)), errs)
		return
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s  %5.1fs  %s done  %s/s  %d errors", p.r.label, el.Seconds(), count(float64(done)), count(rate), errs)
}

func (p *progress) done() {
	if p.w != nil {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
