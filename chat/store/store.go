// Package store keeps chat history in an embedded SQLite database, and is
// the chat hub's local Backend: it gives each message its place in its
// room's order and writes it down before the hub may show it to anyone.
//
// Writes are group commits: messages that arrive while a transaction is
// being written wait and go together in the next, so a busy server pays one
// commit for many messages. A message is handed back for fan-out only after
// its transaction committed (in SQLite's write-ahead log): any message a
// client has seen is in the history after the server is killed and
// restarted. When the commits reach the disk is the Sync policy's: by
// default fsyncs are grouped in the background, at most SyncInterval after
// a commit, so that no message waits for the disk.
//
// A history that cannot be written (disk full, I/O error) does not stop
// the server: the messages of the failed commit are handed back as lost
// (chat.Msg.Lost), shown to no one, and the store is in degraded mode
// (Stats.Degraded, a log line) until a later commit succeeds; each new
// message tries again. One server holds a history folder at a time: a
// second is refused at Open, with the first's PID and command (LockedError).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/portside/portside/chat"
)

// Options configure a Store. Zero values take the defaults noted.
type Options struct {
	// KeepCount is how many messages of each room are kept; default
	// 10,000; negative keeps all.
	KeepCount int
	// KeepAge is how long messages are kept; default 30 days; negative
	// keeps them forever.
	KeepAge time.Duration
	// Sync is when the history is fsynced: SyncGrouped (the default),
	// SyncAlways or SyncNever. Under each, a committed message survives
	// the server being killed; they differ in what the machine losing
	// power may take.
	Sync Sync
	// Window is how long a commit waits for more messages to join it;
	// default 0: each commit takes what arrived while the last was being
	// written.
	Window time.Duration
	// MaxBytes is the budget of the history on disk: when the messages
	// take more, the oldest, whatever their room, are deleted until they
	// take nine tenths of it. The database file stays about this big, its
	// freed pages reused. Default 256 MiB; negative: no budget.
	MaxBytes int64
	Logger   *slog.Logger     // nil discards
	Now      func() time.Time // for retention by age; nil: time.Now
}

// Sync is an fsync policy: what of the history survives the machine
// losing power. A commit is in SQLite's write-ahead log, in the OS's page
// cache, under each: the server being killed loses nothing committed.
type Sync uint8

const (
	// SyncGrouped commits without waiting for the disk (SQLite's
	// synchronous=NORMAL) and fsyncs in the background, at most
	// SyncInterval after a commit: power loss may take the messages of
	// the last SyncInterval or so, and never leaves the history corrupt.
	SyncGrouped Sync = iota
	// SyncAlways fsyncs every commit before its messages are shown
	// (synchronous=FULL): power loss takes nothing anyone was shown.
	SyncAlways
	// SyncNever never fsyncs (synchronous=OFF): the OS writes the history
	// back when it likes, so power loss may take the messages of its last
	// half minute or so, and may leave the database corrupt.
	SyncNever
)

// SyncInterval is how long SyncGrouped lets a commit wait for its fsync.
const SyncInterval = 100 * time.Millisecond

var syncNames = [...]string{SyncGrouped: "grouped", SyncAlways: "always", SyncNever: "never"}

// String names the policy as ParseSync takes it.
func (y Sync) String() string {
	if int(y) < len(syncNames) {
		return syncNames[y]
	}
	return fmt.Sprintf("Sync(%d)", uint8(y))
}

// ParseSync reads a policy's name: grouped, always or never.
func ParseSync(name string) (Sync, error) {
	for y, n := range syncNames {
		if n == name {
			return Sync(y), nil
		}
	}
	return 0, fmt.Errorf("store: fsync policy %q: want grouped, always or never", name)
}

// Store is a SQLite history and the hub's local Backend.
type Store struct {
	o     Options
	db    *sql.DB
	lock  *os.File
	ready bool              // the schema is there and seqs are read; owned by Run once it runs
	seqs  map[string]uint64 // the last sequence number of each room; owned by Run
	// unwritten are rooms' modes a write failed for; owned by Run.
	unwritten map[string]*chat.RoomModes
	h         health // owned by Run
	stats     Stats

	mu     sync.Mutex
	q      []*chat.Msg
	modes  map[string]*chat.RoomModes // rooms' modes to write (modes.go)
	closed bool
	wake   chan struct{}

	reads      chan read
	readerDone chan struct{}
	closeOnce  sync.Once

	// SyncGrouped's background fsync: armed by the first commit after
	// the last fsync, so an idle store has no timer; syncMu is held while
	// one runs, and syncStop keeps another from starting once closing.
	syncArmed atomic.Bool
	syncMu    sync.Mutex
	syncStop  bool
}

type read struct {
	room   string
	before uint64
	n      int
	reply  func([]*chat.Msg, error)
}

// ErrClosed is given to History callers once the store is shut.
var ErrClosed = errors.New("store: closed")

const schema = `
CREATE TABLE IF NOT EXISTS messages (
	room TEXT NOT NULL,
	seq  INTEGER NOT NULL,
	time INTEGER NOT NULL, -- unix milliseconds
	kind INTEGER NOT NULL,
	nick TEXT NOT NULL,
	text TEXT NOT NULL,
	PRIMARY KEY (room, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_time ON messages (time);
-- The last sequence number of each room, kept apart from the messages so
-- that retention never makes a room count from 1 again.
CREATE TABLE IF NOT EXISTS rooms (
	room TEXT PRIMARY KEY,
	seq  INTEGER NOT NULL
) WITHOUT ROWID;
`

// Open opens (creating if need be) the history in dir/chat.db, and locks
// dir for this store until it is closed. Another store holding dir, in this
// process or another, makes it fail with a *LockedError. A database that
// cannot be read or written now (disk full, I/O error) does not: the store
// starts in degraded mode, says so in the log, and tries again with the
// first message said.
func Open(dir string, o Options) (*Store, error) {
	if o.KeepCount == 0 {
		o.KeepCount = 10000
	}
	if o.KeepAge == 0 {
		o.KeepAge = 30 * 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = 256 << 20
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	lk, err := lock(dir)
	if err != nil {
		return nil, err
	}
	mode := map[Sync]string{SyncGrouped: "NORMAL", SyncAlways: "FULL", SyncNever: "OFF"}[o.Sync]
	if mode == "" {
		return nil, fmt.Errorf("store: unknown fsync policy %v", o.Sync)
	}
	// journal_size_limit: the WAL is cut back after a checkpoint, so that
	// the folder stays near MaxBytes.
	q := url.Values{"_pragma": {"journal_mode(WAL)", "synchronous(" + mode + ")", "busy_timeout(10000)", "journal_size_limit(67108864)"}, "_txlock": {"immediate"}}
	path := filepath.Join(dir, "chat.db")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		lk.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	db.SetMaxOpenConns(4)
	s := &Store{o: o, db: db, lock: lk, seqs: make(map[string]uint64), wake: make(chan struct{}, 1), reads: make(chan read, 1024), readerDone: make(chan struct{})}
	if err := s.init(); err != nil {
		if !transient(err) {
			db.Close()
			lk.Close()
			return nil, fmt.Errorf("store: %s: %w", path, err)
		}
		o.Logger.Warn("chat history cannot be read or written now: serving without it; the first message said tries again",
			"path", path, "err", err, "reason", reason(err))
		s.stats.Degraded.Store(1)
		s.h = health{down: err, since: o.Now(), lastLog: o.Now()}
	}
	var fs unix.Statfs_t
	if unix.Statfs(dir, &fs) == nil {
		if free := int64(fs.Bavail) * fs.Bsize; free < 16<<20 {
			o.Logger.Warn("little space left for chat history: messages are refused, not kept, once it is full",
				"dir", dir, "free_bytes", free)
		}
	}
	go s.reader()
	return s, nil
}

// init reads the rooms' sequence numbers, creating the schema if need be.
func (s *Store) init() error {
	clear(s.seqs)
	if _, err := s.db.Exec(schema + modesSchema); err != nil {
		return err
	}
	var mode string
	if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, want wal", mode)
	}
	rows, err := s.db.Query("SELECT room, seq FROM rooms")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var room string
		var seq uint64
		if err := rows.Scan(&room, &seq); err != nil {
			return err
		}
		s.seqs[room] = seq
	}
	if err := rows.Err(); err != nil {
		return err
	}
	s.ready = true
	if used, err := s.used(); err == nil {
		s.stats.Bytes.Store(used)
	}
	return nil
}

// Publish implements chat.Backend.
func (s *Store) Publish(m *chat.Msg) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return chat.ErrClosed
	}
	s.q = append(s.q, m)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run implements chat.Backend: it commits what is published, in batches,
// and delivers each batch once committed. When ctx is done it commits and
// delivers what is left, closes the database and returns.
func (s *Store) Run(ctx context.Context, deliver func([]*chat.Msg)) error {
	defer s.Close()
	var batch []*chat.Msg
	lastTrim := s.o.Now()
	sinceTrim := 0
	var bytesSinceTrim int64
	for {
		s.mu.Lock()
		batch, s.q = s.q, batch[:0]
		modes := s.takeModesLocked()
		stop := len(batch) == 0 && len(modes) == 0 && ctx.Err() != nil
		if stop {
			s.closed = true
		}
		s.mu.Unlock()
		if stop {
			return nil
		}
		if len(modes) > 0 || len(batch) > 0 && len(s.unwritten) > 0 {
			// Before the messages published after them.
			s.writeModes(modes)
		}
		if len(batch) == 0 && len(modes) > 0 {
			continue
		}
		if len(batch) == 0 {
			select {
			case <-s.wake:
			case <-ctx.Done():
			}
			if s.o.Window > 0 && ctx.Err() == nil {
				t := time.NewTimer(s.o.Window)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
			}
			continue
		}
		if err := s.commit(batch); err != nil {
			lost := s.failed(err, len(batch))
			for _, m := range batch {
				m.Seq, m.Lost = 0, lost
			}
			deliver(batch)
			clear(batch)
			continue
		}
		s.wrote()
		s.commitSynced()
		deliver(batch)
		for _, m := range batch {
			bytesSinceTrim += int64(len(m.Text) + len(m.Nick) + len(m.Room))
		}
		sinceTrim += len(batch)
		clear(batch)
		if now := s.o.Now(); sinceTrim >= 1000 || now.Sub(lastTrim) >= time.Minute ||
			(s.o.MaxBytes > 0 && bytesSinceTrim >= s.o.MaxBytes/16) {
			if err := s.trim(now); err != nil {
				s.o.Logger.Error("history retention", "err", err)
			}
			lastTrim, sinceTrim, bytesSinceTrim = now, 0, 0
		}
	}
}

// commitSynced arranges for a commit to reach the disk under SyncGrouped:
// the first commit after an fsync arms a timer, and the fsync, SyncInterval
// later, takes every commit made meanwhile. It runs off the store's
// goroutine, which goes on committing: a commit waits for no fsync.
func (s *Store) commitSynced() {
	if s.o.Sync != SyncGrouped || !s.syncArmed.CompareAndSwap(false, true) {
		return
	}
	time.AfterFunc(SyncInterval, s.fsync)
}

// fsync makes the commits so far durable. In WAL mode with
// synchronous=NORMAL SQLite fsyncs the log only when it checkpoints, so a
// passive checkpoint is the fsync: it syncs the log, copies what it can
// into the database and syncs that, beside the writer and the readers.
// If a reader kept it from taking every frame, the next commit's fsync
// tries again.
func (s *Store) fsync() {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.syncStop {
		return
	}
	s.syncArmed.Store(false)
	var busy, frames, done int
	err := s.db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done)
	switch {
	case err != nil:
		s.o.Logger.Error("chat history fsync", "err", err, "reason", reason(err))
	case done < frames:
		s.commitSynced()
	}
}

// commit writes batch in one transaction, giving each message its sequence
// number. A failed commit is not retried here: its messages cannot be shown
// to anyone, their senders are told so at once, and the next batch tries
// again (degraded mode). A store that could not read its rooms at start
// reads them first.
func (s *Store) commit(batch []*chat.Msg) error {
	if !s.ready {
		if err := s.init(); err != nil {
			return err
		}
	}
	next := make(map[string]uint64)
	for _, m := range batch {
		seq, ok := next[m.Room]
		if !ok {
			seq = s.seqs[m.Room]
		}
		seq++
		next[m.Room] = seq
		m.Seq = seq
	}
	start := time.Now()
	if err := s.write(batch, next); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	s.stats.observeCommit(time.Since(start))
	for room, seq := range next {
		s.seqs[room] = seq
	}
	return nil
}

func (s *Store) write(batch []*chat.Msg, seqs map[string]uint64) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins, err := tx.Prepare("INSERT INTO messages (room, seq, time, kind, nick, text) VALUES (?, ?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	for _, m := range batch {
		if _, err := ins.Exec(m.Room, m.Seq, m.Time.UnixMilli(), int(m.Kind), m.Nick, m.Text); err != nil {
			return err
		}
	}
	for room, seq := range seqs {
		if _, err := tx.Exec("INSERT INTO rooms (room, seq) VALUES (?, ?) ON CONFLICT (room) DO UPDATE SET seq = excluded.seq", room, seq); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// trim applies retention: by age, then by count per room, then the byte
// budget.
func (s *Store) trim(now time.Time) error {
	if err := s.trimAgeCount(now); err != nil {
		return err
	}
	return s.trimBytes()
}

// trimAgeCount deletes messages older than KeepAge and beyond KeepCount in
// their room.
func (s *Store) trimAgeCount(now time.Time) error {
	if s.o.KeepAge > 0 {
		if _, err := s.db.Exec("DELETE FROM messages WHERE time < ?", now.Add(-s.o.KeepAge).UnixMilli()); err != nil {
			return err
		}
	}
	if s.o.KeepCount > 0 {
		for room, seq := range s.seqs {
			if seq <= uint64(s.o.KeepCount) {
				continue
			}
			if _, err := s.db.Exec("DELETE FROM messages WHERE room = ? AND seq <= ?", room, seq-uint64(s.o.KeepCount)); err != nil {
				return err
			}
		}
	}
	return nil
}

// History implements chat.Backend: a reader goroutine answers, in the order
// asked.
func (s *Store) History(room string, before uint64, n int, reply func([]*chat.Msg, error)) {
	s.mu.Lock()
	err := ErrClosed
	if !s.closed {
		select {
		case s.reads <- read{room, before, n, reply}:
			err = nil
		default:
			err = chat.ErrBusy
		}
	}
	s.mu.Unlock()
	if err != nil {
		reply(nil, err)
	}
}

func (s *Store) reader() {
	defer close(s.readerDone)
	for r := range s.reads {
		r.reply(s.query(r.room, r.before, r.n))
	}
}

func (s *Store) query(room string, before uint64, n int) ([]*chat.Msg, error) {
	if before == 0 {
		before = 1<<63 - 1
	}
	rows, err := s.db.Query(`SELECT seq, time, kind, nick, text FROM messages
		WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?`, room, int64(before), n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*chat.Msg
	for rows.Next() {
		m := &chat.Msg{Room: room}
		var ms int64
		var kind int
		if err := rows.Scan(&m.Seq, &ms, &kind, &m.Nick, &m.Text); err != nil {
			return nil, err
		}
		m.Time, m.Kind = time.UnixMilli(ms).UTC(), chat.Kind(kind)
		out = append(out, m)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, rows.Err()
}

// Latest implements chat.Loader: the latest perRoom messages of every room,
// oldest first within a room. A store that could not read its history at
// Open has none to give; one that fails to read it now serves without the
// replay rather than not at all, and says so.
func (s *Store) Latest(perRoom int) ([]*chat.Msg, error) {
	if !s.ready {
		return nil, nil
	}
	var out []*chat.Msg
	for room := range s.seqs {
		msgs, err := s.query(room, 0, perRoom)
		if err != nil {
			s.o.Logger.Warn("chat history cannot be read: no replay on join until a restart", "err", err, "reason", reason(err))
			return nil, nil
		}
		out = append(out, msgs...)
	}
	return out, nil
}

// Close closes the database once queued reads are answered. Run closes the
// store when it returns; Close is for a store that was never run.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		// Closing the database checkpoints and syncs it: no background
		// fsync may start after.
		s.syncMu.Lock()
		s.syncStop = true
		s.syncMu.Unlock()
		s.mu.Lock()
		s.closed = true
		close(s.reads)
		s.mu.Unlock()
		<-s.readerDone
		err = s.db.Close()
		s.lock.Close() // after the database: the next holder finds it closed
	})
	return err
}

// used is how many bytes the database's live pages take: its size less
// the pages free for reuse.
func (s *Store) used() (int64, error) {
	var pages, free, size int64
	for _, p := range []struct {
		q string
		v *int64
	}{{"PRAGMA page_count", &pages}, {"PRAGMA freelist_count", &free}, {"PRAGMA page_size", &size}} {
		if err := s.db.QueryRow(p.q).Scan(p.v); err != nil {
			return 0, err
		}
	}
	return (pages - free) * size, nil
}

// trimBytes keeps the history within MaxBytes: when it takes more, the
// oldest messages, whatever their room, are deleted until it takes nine
// tenths of the budget. The file does not shrink; its freed pages take the
// next messages.
func (s *Store) trimBytes() error {
	if s.o.MaxBytes <= 0 {
		return nil
	}
	used, err := s.used()
	if err != nil {
		return err
	}
	s.stats.Bytes.Store(used)
	if used <= s.o.MaxBytes {
		return nil
	}
	target := s.o.MaxBytes / 10 * 9
	var count int64
	if err := s.db.QueryRow("SELECT count(*) FROM messages").Scan(&count); err != nil {
		return err
	}
	var deleted int64
	for used > target && count > 0 {
		// What to delete, from the average size of a message; measured
		// again after each round, since pages free up unevenly.
		per := max(used/count, 1)
		n := max((used-target)/per+1, 64)
		res, err := s.db.Exec(`DELETE FROM messages WHERE (room, seq) IN
			(SELECT room, seq FROM messages ORDER BY time, room, seq LIMIT ?)`, n)
		if err != nil {
			return err
		}
		k, _ := res.RowsAffected()
		if k == 0 {
			break
		}
		deleted += k
		count -= k
		s.stats.Trimmed.Add(k)
		if used, err = s.used(); err != nil {
			return err
		}
	}
	s.stats.Bytes.Store(used)
	s.o.Logger.Info("chat history over its byte budget: oldest messages deleted",
		"deleted", deleted, "bytes", used, "budget", s.o.MaxBytes)
	return nil
}
