// Package store keeps chat history in an embedded SQLite database, and is
// the chat hub's local Backend: it gives each message its place in its
// room's order and writes it down before the hub may show it to anyone.
//
// Writes are group commits: messages that arrive while a transaction is
// being written wait and go together in the next, so a busy server pays one
// commit (one fsync) for many messages. A message is handed back for fan-out
// only after its transaction committed: any message a client has seen is in
// the history after a crash and restart.
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
	"time"

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
	// NoSync commits without fsync (SQLite's synchronous=NORMAL): history
	// still survives the server being killed, but not the machine losing
	// power. The default fsyncs every commit.
	NoSync bool
	// Window is how long a commit waits for more messages to join it;
	// default 0: each commit takes what arrived while the last was being
	// written.
	Window time.Duration
	Logger *slog.Logger     // nil discards
	Now    func() time.Time // for retention by age; nil: time.Now
}

// Store is a SQLite history and the hub's local Backend.
type Store struct {
	o    Options
	db   *sql.DB
	seqs map[string]uint64 // the last sequence number of each room; owned by Run

	mu     sync.Mutex
	q      []*chat.Msg
	closed bool
	wake   chan struct{}

	reads      chan read
	readerDone chan struct{}
	closeOnce  sync.Once
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

// Open opens (creating if need be) the history in dir/chat.db.
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
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	mode := "FULL"
	if o.NoSync {
		mode = "NORMAL"
	}
	q := url.Values{"_pragma": {"journal_mode(WAL)", "synchronous(" + mode + ")", "busy_timeout(10000)"}, "_txlock": {"immediate"}}
	path := filepath.Join(dir, "chat.db")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db.SetMaxOpenConns(4)
	s := &Store{o: o, db: db, seqs: make(map[string]uint64), wake: make(chan struct{}, 1), reads: make(chan read, 1024), readerDone: make(chan struct{})}
	if err := s.init(); err != nil {
		db.Close()
		close(s.reads)
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	go s.reader()
	return s, nil
}

func (s *Store) init() error {
	if _, err := s.db.Exec(schema); err != nil {
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
	return rows.Err()
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
	for {
		s.mu.Lock()
		batch, s.q = s.q, batch[:0]
		stop := len(batch) == 0 && ctx.Err() != nil
		if stop {
			s.closed = true
		}
		s.mu.Unlock()
		if stop {
			return nil
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
			return err
		}
		deliver(batch)
		clear(batch)
		sinceTrim += len(batch)
		if now := s.o.Now(); sinceTrim >= 1000 || now.Sub(lastTrim) >= time.Minute {
			if err := s.trim(now); err != nil {
				s.o.Logger.Error("history retention", "err", err)
			}
			lastTrim, sinceTrim = now, 0
		}
	}
}

// commit writes batch in one transaction, giving each message its sequence
// number. A failed commit is retried a few times: the messages cannot be
// shown to anyone until they are written, and a store that cannot write
// stops the server rather than lose what it promised to keep.
func (s *Store) commit(batch []*chat.Msg) error {
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
	var err error
	for attempt := range 4 {
		if attempt > 0 {
			s.o.Logger.Warn("history commit failed, retrying", "err", err, "attempt", attempt)
			time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
		}
		if err = s.write(batch, next); err == nil {
			for room, seq := range next {
				s.seqs[room] = seq
			}
			return nil
		}
	}
	return fmt.Errorf("store: commit: %w", err)
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

// trim applies retention: by age, then by count per room.
func (s *Store) trim(now time.Time) error {
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
// oldest first within a room.
func (s *Store) Latest(perRoom int) ([]*chat.Msg, error) {
	var out []*chat.Msg
	for room := range s.seqs {
		msgs, err := s.query(room, 0, perRoom)
		if err != nil {
			return nil, err
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
		s.mu.Lock()
		s.closed = true
		close(s.reads)
		s.mu.Unlock()
		<-s.readerDone
		err = s.db.Close()
	})
	return err
}
