package store

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/portside/portside/chat"
)

// Stats are the store's counters, for metrics. They are read at any time.
type Stats struct {
	// Degraded is 1 while the history cannot be written: messages said
	// meanwhile are refused (not kept, not shown) until a commit succeeds.
	Degraded atomic.Int64
	NotKept  atomic.Int64 // messages refused because the history could not be written
	Trimmed  atomic.Int64 // messages deleted to keep the history within MaxBytes
	Bytes    atomic.Int64 // bytes the messages take in the database, at the last measure

	// Commit latency: how long each successful history commit took.
	commits   [len(CommitBuckets) + 1]atomic.Uint64 // per bucket, the last for +Inf
	commitSum atomic.Int64                          // nanoseconds
}

// CommitBuckets are the upper bounds, in seconds, of the commit latency
// histogram: an fsync on a disk takes milliseconds, without one tens of
// microseconds.
var CommitBuckets = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

func (s *Stats) observeCommit(d time.Duration) {
	i := 0
	for i < len(CommitBuckets) && d.Seconds() > CommitBuckets[i] {
		i++
	}
	s.commits[i].Add(1)
	s.commitSum.Add(int64(d))
}

// CommitLatency returns the commit latency histogram: how many commits,
// their total seconds, and for each of CommitBuckets how many took at
// most that long (cumulative, as Prometheus has it).
func (s *Stats) CommitLatency() (count uint64, sum float64, cumulative []uint64) {
	cumulative = make([]uint64, len(CommitBuckets))
	for i := range CommitBuckets {
		count += s.commits[i].Load()
		cumulative[i] = count
	}
	count += s.commits[len(CommitBuckets)].Load()
	return count, time.Duration(s.commitSum.Load()).Seconds(), cumulative
}

// faultLogEvery bounds how often a history that still cannot be written
// is logged: once on the first failure, then at most once per interval.
const faultLogEvery = time.Minute

// health is the store's degraded mode; owned by Run's goroutine.
type health struct {
	down      error     // why the history cannot be written; nil when it can
	since     time.Time // when it went down
	lastLog   time.Time
	sinceLog  int64 // messages refused since the last log line
	totalLost int64 // messages refused since it went down
}

// reason says in a few words why SQLite could not write.
func reason(err error) string {
	var se *sqlite.Error
	if errors.As(err, &se) {
		if se.Code() == sqlite3.SQLITE_IOERR_SHMSIZE {
			// Growing the WAL index, which takes space first.
			return "disk full: no space for the WAL index"
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_FULL:
			return "disk full"
		case sqlite3.SQLITE_IOERR:
			return "I/O error"
		case sqlite3.SQLITE_READONLY:
			return "database is read-only"
		case sqlite3.SQLITE_CANTOPEN:
			return "database cannot be opened"
		}
	}
	return err.Error()
}

// failed records that a batch of n messages could not be kept, and returns
// the error their senders are given.
func (s *Store) failed(err error, n int) error {
	now := s.o.Now()
	h := &s.h
	s.stats.NotKept.Add(int64(n))
	h.sinceLog += int64(n)
	h.totalLost += int64(n)
	if h.down == nil {
		h.down, h.since = err, now
		s.stats.Degraded.Store(1)
		s.o.Logger.Error("chat history cannot be written: messages are refused, not kept and not shown, until it can",
			"err", err, "reason", reason(err), "refused", n)
		h.lastLog, h.sinceLog = now, 0
	} else if now.Sub(h.lastLog) >= faultLogEvery {
		s.o.Logger.Error("chat history still cannot be written",
			"err", err, "reason", reason(err), "refused", h.sinceLog, "for", now.Sub(h.since).Round(time.Second))
		h.lastLog, h.sinceLog = now, 0
	}
	h.down = err
	return fmt.Errorf("%w: chat history cannot be written (%s)", chat.ErrNotKept, reason(err))
}

// wrote records that a commit succeeded: the store is out of degraded
// mode, if it was in it.
func (s *Store) wrote() {
	h := &s.h
	if h.down == nil {
		return
	}
	s.o.Logger.Warn("chat history can be written again: messages are kept and shown",
		"was", reason(h.down), "for", s.o.Now().Sub(h.since).Round(time.Second), "refused", h.totalLost)
	*h = health{}
	s.stats.Degraded.Store(0)
}

// Stats returns the store's counters.
func (s *Store) Stats() *Stats { return &s.stats }

// transient reports whether err is a fault of the storage that may heal by
// itself (space freed, a device back), so that the store should serve in
// degraded mode rather than refuse to start.
func transient(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
			return true
		}
	}
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EIO) || errors.Is(err, unix.EDQUOT)
}
