package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockName is the file in the history folder that its server holds locked
// (flock) while it runs. It holds the server's PID and command line, for
// the refusal a second server gets.
const lockName = "portside.lock"

// LockedError refuses a second server on a history folder: two writers
// would each count a room's sequence from what they read at start, and the
// second commit of a sequence number fails.
type LockedError struct {
	Dir    string
	Holder string // "pid 1234: portside serve ...", or "" if unreadable
}

func (e *LockedError) Error() string {
	h := e.Holder
	if h == "" {
		h = "another process"
	}
	return fmt.Sprintf("history folder %s is in use by %s; one server per folder", e.Dir, h)
}

// lock takes the folder's lock, or says who holds it. The lock is released
// when the file is closed, or when the process ends however it ends.
func lock(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			b, _ := os.ReadFile(path)
			return nil, &LockedError{Dir: dir, Holder: strings.TrimSpace(string(b))}
		}
		return nil, fmt.Errorf("store: lock %s: %w", path, err)
	}
	// Who holds it, for the refusal. Best effort: on a full disk the write
	// may fail, and the lock holds all the same.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte("pid "+strconv.Itoa(os.Getpid())+": "+strings.Join(redact(os.Args), " ")+"\n"), 0)
	}
	return f, nil
}

// redact hides the values of flags that name a password, or an operator
// and its password's hash (--oper): the command line is shown to whoever
// starts a second server.
func redact(args []string) []string {
	out := make([]string, len(args))
	hide := false
	for i, a := range args {
		name, _, _ := strings.Cut(a, "=")
		switch {
		case hide:
			out[i], hide = "***", false
		case strings.HasPrefix(a, "-") && (strings.Contains(name, "password") || strings.HasSuffix(name, "oper")):
			if name, _, ok := strings.Cut(a, "="); ok {
				out[i] = name + "=***"
			} else {
				out[i], hide = a, true
			}
		default:
			out[i] = a
		}
	}
	return out
}
