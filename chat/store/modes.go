package store

import (
	"encoding/json"

	"github.com/portside/portside/chat"
)

// The rooms' modes (operators, bans, flags, key, limit), one JSON object
// a room. Made in databases of earlier releases too: the table is created
// if it is missing.
const modesSchema = `
CREATE TABLE IF NOT EXISTS room_modes (
	room  TEXT PRIMARY KEY,
	modes TEXT NOT NULL -- chat.RoomModes as JSON
) WITHOUT ROWID;
`

var (
	_ chat.ModeKeeper = (*Store)(nil)
	_ chat.ModeLoader = (*Store)(nil)
)

// KeepModes implements chat.ModeKeeper: the room's modes are written by
// Run, before the messages published after them, so a mode change is
// durable no later than the next message anyone is shown. Only the latest
// state of a room is written.
func (s *Store) KeepModes(room string, m *chat.RoomModes) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.modes == nil {
		s.modes = make(map[string]*chat.RoomModes)
	}
	s.modes[room] = m
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// takeModesLocked returns the modes waiting to be written. s.mu is held.
func (s *Store) takeModesLocked() map[string]*chat.RoomModes {
	m := s.modes
	s.modes = nil
	return m
}

// writeModes writes rooms' modes in one transaction, with those that
// could not be written before. Those that cannot be written now (the
// history's disk is full) wait for the next write, of modes or messages,
// unless newer ones come meanwhile: no retry loop. The log says so.
func (s *Store) writeModes(modes map[string]*chat.RoomModes) {
	for room, m := range s.unwritten {
		if _, newer := modes[room]; !newer {
			if modes == nil {
				modes = make(map[string]*chat.RoomModes)
			}
			modes[room] = m
		}
	}
	s.unwritten = nil
	if len(modes) == 0 {
		return
	}
	if err := s.writeModesTx(modes); err != nil {
		s.o.Logger.Error("chat room modes cannot be written now; they are written with the next change or message", "err", err, "reason", reason(err))
		s.unwritten = modes
	}
}

func (s *Store) writeModesTx(modes map[string]*chat.RoomModes) error {
	if !s.ready {
		if err := s.init(); err != nil {
			return err
		}
	}
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for room, m := range modes {
		if m == nil {
			_, err = tx.Exec("DELETE FROM room_modes WHERE room = ?", room)
		} else {
			data, _ := json.Marshal(m)
			_, err = tx.Exec("INSERT INTO room_modes (room, modes) VALUES (?, ?) ON CONFLICT (room) DO UPDATE SET modes = excluded.modes", room, string(data))
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// LoadModes implements chat.ModeLoader. A row that cannot be read is
// skipped, and logged: the room starts without its modes rather than the
// server not at all.
func (s *Store) LoadModes() (map[string]*chat.RoomModes, error) {
	if !s.ready {
		return nil, nil
	}
	rows, err := s.db.Query("SELECT room, modes FROM room_modes")
	if err != nil {
		s.o.Logger.Warn("chat room modes cannot be read: rooms start without them", "err", err, "reason", reason(err))
		return nil, nil
	}
	defer rows.Close()
	out := make(map[string]*chat.RoomModes)
	for rows.Next() {
		var room, data string
		if err := rows.Scan(&room, &data); err != nil {
			return out, nil
		}
		var m chat.RoomModes
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			s.o.Logger.Warn("chat room modes of a room cannot be read: it starts without them", "room", room, "err", err)
			continue
		}
		out[room] = &m
	}
	return out, nil
}
