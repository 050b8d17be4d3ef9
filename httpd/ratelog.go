package httpd

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// rateLog writes log lines that clients can provoke (failed logins, server
// errors) at most perSecond a second, so a flood of them cannot flood the
// log or slow the server with writes; the next line written says how many
// were left out.
type rateLog struct {
	l         *slog.Logger
	perSecond int

	mu         sync.Mutex
	window     int64 // unix second being counted
	n          int   // lines written in it
	suppressed int
}

func newRateLog(l *slog.Logger, perSecond int) *rateLog {
	return &rateLog{l: l, perSecond: perSecond}
}

func (r *rateLog) warn(msg string, args ...any)  { r.log(slog.LevelWarn, msg, args...) }
func (r *rateLog) error(msg string, args ...any) { r.log(slog.LevelError, msg, args...) }

func (r *rateLog) log(level slog.Level, msg string, args ...any) {
	if !r.l.Enabled(context.Background(), level) {
		return
	}
	sec := time.Now().Unix()
	r.mu.Lock()
	if sec != r.window {
		r.window, r.n = sec, 0
	}
	if r.n >= r.perSecond {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	r.n++
	left := r.suppressed
	r.suppressed = 0
	r.mu.Unlock()
	if left > 0 {
		args = append(args, "suppressed", left)
	}
	r.l.Log(context.Background(), level, msg, args...)
}
