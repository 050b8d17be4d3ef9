// Package testkit holds what the servers' tests share: running a test under
// each engine that can take it, and a log sink safe to read while written.
package testkit

import (
	"bytes"
	"sync"
	"testing"

	"github.com/portside/portside/engine"
)

// Needs says what a test asks of an engine beyond running its handlers in
// the test's own process.
type Needs int

const (
	// Concurrent: the test holds several connections open at once.
	Concurrent Needs = 1 << iota
)

// EachEngine runs f as a subtest under every engine, by name, skipping with
// the reason those that cannot take the test: fork serves each connection
// from a child process, out of the test's reach (internal/cli runs the real
// command under it); iterative serves one connection at a time.
func EachEngine(t *testing.T, needs Needs, f func(t *testing.T, name string)) {
	t.Helper()
	for _, name := range engine.Names() {
		t.Run("engine="+name, func(t *testing.T) {
			switch {
			case name == "fork":
				t.Skip("fork serves each connection from a child process, out of this test's reach; internal/cli runs the real command under it")
			case name == "iterative" && needs&Concurrent != 0:
				t.Skip("iterative serves one connection at a time; this test holds several")
			}
			f(t, name)
		})
	}
}

// SyncBuffer is a bytes.Buffer safe for one writer and concurrent readers:
// a server's log that a test reads while the server runs.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
