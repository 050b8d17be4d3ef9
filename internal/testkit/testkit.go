// Package testkit holds what the servers' tests share: running a test under
// each engine that can take it, and a log sink safe to read while written.
package testkit

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/server"
)

// Needs says what a test asks of an engine beyond running its handlers in
// the test's own process.
type Needs int

const (
	// Concurrent: the test holds several connections open at once.
	Concurrent Needs = 1 << iota
	// Many: the test holds so many connections (a thousand) that with
	// its clients in the same process the descriptors climb past 1024.
	Many
)

// EachEngine runs f as a subtest under every engine, by name, skipping with
// the reason those that cannot take the test: fork serves each connection
// from a child process, out of the test's reach (internal/cli runs the real
// command under it); iterative serves one connection at a time; select
// cannot watch a descriptor numbered 1024 or above.
func EachEngine(t *testing.T, needs Needs, f func(t *testing.T, name string)) {
	t.Helper()
	for _, name := range engine.Names() {
		t.Run("engine="+name, func(t *testing.T) {
			switch {
			case name == "fork":
				t.Skip("fork serves each connection from a child process, out of this test's reach; internal/cli runs the real command under it")
			case name == "iterative" && needs&Concurrent != 0:
				t.Skip("iterative serves one connection at a time; this test holds several")
			case name == "select" && needs&Many != 0:
				t.Skip("select(2) watches descriptors below 1024 only, and this test's clients and the server's connections, a thousand each, share one process's descriptors")
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

// Serve serves s under the engine called name on a fresh loopback port
// until the test ends, and returns the address. At the end it stops the
// engine and fails the test if Serve did not return nil.
func Serve(t *testing.T, name string, s *server.Service) string {
	t.Helper()
	eng, err := engine.New(name, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := server.Listen(ctx, eng, "tcp", "127.0.0.1:0", s.Name)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	Background(t, s.Name+": Serve", func(context.Context) error { return eng.Serve(ctx, ln, s) })
	t.Cleanup(cancel) // runs first: cleanups go last-in first-out
	return ln.Addr().String()
}

// Background runs f until the test ends: then its context is cancelled and
// an error f returns fails the test. Cleanups run last-in first-out, so
// start what a service depends on (a chat hub) before the service.
func Background(t *testing.T, what string, f func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", what, err)
		}
	})
}

// Golden compares got with the file at path, or first rewrites the file
// when update is set (each package's -update flag).
func Golden(t *testing.T, path string, got []byte, update bool) {
	t.Helper()
	if update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
