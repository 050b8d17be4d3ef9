// Package enginetest is the conformance suite every engine must pass: each
// semantic of the server contract, checked over real sockets on loopback.
//
// An engine's test calls Run with a constructor. An engine that by nature
// cannot pass a test (the iterative engine holds one connection at a time)
// names it in Options.Skip with the reason, and the suite reports it as
// skipped with that reason — never silently.
package enginetest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portside/portside/server"
)

// Options tailor the suite to one engine.
type Options struct {
	// Skip maps a test name (as in Tests) to the reason this engine
	// cannot pass it.
	Skip map[string]string
	// Conns is how many connections the Concurrent test holds at once;
	// 0 means 1,000. An engine whose connections are heavy (a process
	// each) may lower it, saying why.
	Conns int
}

// Test is one conformance test: the service it runs and the client side.
type Test struct {
	Name string
	// Service builds the service under test. It needs nothing from the
	// test's process, so an engine that serves from another process can
	// build the same one there (see NewService).
	Service func() *server.Service
	Client  func(t *testing.T, e *Env)
}

// Env is what a client side gets: the address, the service as served, and a
// way to shut the engine down.
type Env struct {
	Addr     string
	Service  *server.Service
	shutdown context.CancelFunc
	served   chan error
	conns    int // Options.Conns
}

// Shutdown cancels Serve's context and returns what Serve returned.
func (e *Env) Shutdown(t *testing.T) error {
	t.Helper()
	e.shutdown()
	select {
	case err := <-e.served:
		e.served <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return 30s after shutdown")
		return nil
	}
}

func (e *Env) rec() *recorder {
	return e.Service.Handler.(interface{ recorder() *recorder }).recorder()
}

// Run runs every test in Tests against the engines newEngine makes, one
// fresh engine per test.
func Run(t *testing.T, newEngine func() server.Engine, o Options) {
	for _, tc := range Tests() {
		t.Run(tc.Name, func(t *testing.T) {
			if why, ok := o.Skip[tc.Name]; ok {
				t.Skip("not for this engine: " + why)
			}
			env := Start(t, newEngine(), tc.Service())
			env.conns = o.Conns
			tc.Client(t, env)
		})
	}
}

// NewService returns the service of the test called name, or nil.
func NewService(name string) *server.Service {
	for _, tc := range Tests() {
		if tc.Name == name {
			return tc.Service()
		}
	}
	return nil
}

// Start serves s with eng on a fresh loopback port until the test ends.
func Start(t *testing.T, eng server.Engine, s *server.Service) *Env {
	t.Helper()
	s.Init() // so the test reads the limits in force without racing Serve
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := server.Listen(ctx, eng, "tcp", "127.0.0.1:0", s.Name)
	if err != nil {
		cancel()
		t.Fatalf("listen: %v", err)
	}
	env := &Env{Addr: ln.Addr().String(), Service: s, shutdown: cancel, served: make(chan error, 1)}
	go func() { env.served <- eng.Serve(ctx, ln, s) }()
	t.Cleanup(func() {
		if err := env.Shutdown(t); err != nil {
			t.Errorf("Serve returned %v after shutdown, want nil", err)
		}
	})
	return env
}

func service(name string, h server.Handler, l server.Limits) *server.Service {
	// The suite's handlers keep nothing one connection needs of another.
	return &server.Service{Name: name, Handler: h, Limits: l, Stateless: true}
}

// Tests lists the suite.
func Tests() []Test {
	return []Test{
		{"Banner", svc("Banner", &banner{}, server.Limits{}), testBanner},
		{"PartialInput", svc("PartialInput", &lines{}, server.Limits{}), testPartialInput},
		{"ByteAtATime", svc("ByteAtATime", &lines{}, server.Limits{}), testByteAtATime},
		{"SplitWrites", svc("SplitWrites", &lines{}, server.Limits{}), testSplitWrites},
		{"CoalescedWrites", svc("CoalescedWrites", &lines{}, server.Limits{}), testCoalesced},
		{"Concurrent", svc("Concurrent", &echo{}, server.Limits{}), testConcurrent},
		{"WriteFromGoroutine", svc("WriteFromGoroutine", &pusher{count: 10000}, server.Limits{}), testWriteFromGoroutine},
		{"CloseFromGoroutine", svc("CloseFromGoroutine", &lines{}, server.Limits{}), testCloseFromGoroutine},
		{"SlowConsumer", svc("SlowConsumer", &pusher{flood: true}, server.Limits{MaxQueue: 256 << 10, HighWater: 64 << 10}), testSlowConsumer},
		{"Backpressure", svc("Backpressure", &echo{}, server.Limits{MaxQueue: 4 << 20, HighWater: 64 << 10}), testBackpressure},
		{"BackpressureAsync", svc("BackpressureAsync", &asyncEcho{}, server.Limits{MaxQueue: 4 << 20, HighWater: 64 << 10}), testBackpressure},
		{"InputTooLarge", svc("InputTooLarge", &lines{}, server.Limits{MaxInput: 4096}), testInputTooLarge},
		{"IdleTimeout", svc("IdleTimeout", &lines{}, server.Limits{IdleTimeout: 150 * time.Millisecond}), testIdleTimeout},
		{"OutputNotIdle", svc("OutputNotIdle", &contract{}, server.Limits{IdleTimeout: 400 * time.Millisecond}), testOutputNotIdle},
		{"SpawnerOutputNotIdle", svc("SpawnerOutputNotIdle", &spawning{}, server.Limits{IdleTimeout: 400 * time.Millisecond}), testOutputNotIdle},
		{"SpawnerFromGoroutine", svc("SpawnerFromGoroutine", &spawning{}, server.Limits{MaxQueue: 64 << 20}), testFromGoroutine},
		{"ActiveNotIdle", svc("ActiveNotIdle", &lines{}, server.Limits{IdleTimeout: 500 * time.Millisecond}), testActiveNotIdle},
		{"MaxConns", svc("MaxConns", &banner{}, server.Limits{MaxConns: 2}), testMaxConns},
		{"MaxConnsPerIP", svc("MaxConnsPerIP", &banner{}, server.Limits{MaxConnsPerIP: 1}), testMaxConnsPerIP},
		{"CloseOnce", svc("CloseOnce", &lines{}, server.Limits{}), testCloseOnce},
		{"HalfCloseEcho", svc("HalfCloseEcho", &echo{}, server.Limits{}), testHalfCloseEcho},
		{"HalfCloseHandler", svc("HalfCloseHandler", &counter{n: map[uint64]int{}}, server.Limits{}), testHalfCloseHandler},
		{"WriteFile", fileService("WriteFile", server.Limits{}), testWriteFile},
		// Queued file bytes are not in memory, so they do not count
		// against MaxQueue: a small write after a big file is fine.
		{"WriteFileOverQueue", fileService("WriteFileOverQueue", server.Limits{MaxQueue: 256 << 10, HighWater: 64 << 10}), testWriteFile},
		{"Shutdown", svc("Shutdown", &drainer{}, server.Limits{MaxQueue: 8 << 20}), testShutdown},
		{"ShutdownFlushes", svc("ShutdownFlushes", &lines{}, server.Limits{MaxQueue: 8 << 20}), testShutdownFlushes},
		{"DrainTimeout", svc("DrainTimeout", &drainer{stuck: true}, server.Limits{DrainTimeout: 200 * time.Millisecond}), testDrainTimeout},
		{"DrainReadOn", svc("DrainReadOn", &drainer{finish: true}, server.Limits{DrainTimeout: time.Minute}), testDrainReadOn},
		{"DrainReadOnCut", svc("DrainReadOnCut", &drainer{finish: true}, server.Limits{DrainTimeout: 300 * time.Millisecond}), testDrainReadOnCut},
		{"Stats", svc("Stats", &echo{}, server.Limits{}), testStats},
		{"Timer", svc("Timer", &contract{}, server.Limits{}), testTimer},
		{"TimerNeverDuringData", svc("TimerNeverDuringData", &contract{}, server.Limits{}), testTimerNeverDuringData},
		{"PauseRead", svc("PauseRead", &contract{}, server.Limits{MaxQueue: 64 << 20}), testPauseRead},
		{"Drained", svc("Drained", &contract{}, server.Limits{MaxQueue: 64 << 20}), testDrained},
		{"DrainedMark", svc("DrainedMark", &contract{}, server.Limits{MaxQueue: 64 << 20}), testDrainedMark},
		{"HandlerPanic", svc("HandlerPanic", &contract{}, server.Limits{}), testHandlerPanic},
		{"RefusePanic", svc("RefusePanic", &contract{}, server.Limits{MaxConns: 1}), testRefusePanic},
		{"OpenPanic", svc("OpenPanic", &contract{openPanic: true}, server.Limits{}), testOpenPanic},
		{"WriteString", svc("WriteString", &contract{}, server.Limits{}), testWriteString},
		{"CloseWith", svc("CloseWith", &contract{}, server.Limits{}), testCloseWith},
		{"FromGoroutine", svc("FromGoroutine", &contract{}, server.Limits{MaxQueue: 64 << 20}), testFromGoroutine},
		{"ResetPeers", svc("ResetPeers", &contract{}, server.Limits{}), testResetPeers},
	}
}

// withRecorder is a handler that embeds base.
type withRecorder interface {
	server.Handler
	setRecorder(*recorder)
}

func (b *base) setRecorder(r *recorder) { b.rec = r }

func svc(name string, h withRecorder, l server.Limits) func() *server.Service {
	return func() *server.Service {
		// Each call gets a fresh handler: copy the prototype's settings.
		h := clone(h)
		rec := newRecorder()
		h.setRecorder(rec)
		s := service(name, h, l)
		switch h.(type) {
		case *contract, *spawning:
			s.Logger = slog.New(slog.NewTextHandler(&rec.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		return s
	}
}

func clone(h withRecorder) withRecorder {
	switch h := h.(type) {
	case *echo:
		return &echo{}
	case *lines:
		return &lines{file: h.file}
	case *banner:
		return &banner{}
	case *drainer:
		return &drainer{stuck: h.stuck, finish: h.finish}
	case *counter:
		return &counter{n: map[uint64]int{}}
	case *asyncEcho:
		return &asyncEcho{ch: map[uint64]chan []byte{}}
	case *pusher:
		return &pusher{count: h.count, flood: h.flood}
	case *contract:
		return &contract{openPanic: h.openPanic}
	case *spawning:
		return &spawning{contract{openPanic: h.openPanic}}
	}
	panic("enginetest: unknown handler")
}

// fileService serves a file whose bytes are the pattern, from a fixed name
// in the temp dir so that another process can build the same service.
func fileService(name string, l server.Limits) func() *server.Service {
	return func() *server.Service {
		file := filepath.Join(os.TempDir(), "portside-enginetest-file")
		if fi, err := os.Stat(file); err != nil || fi.Size() != fileOff+fileLen+10 {
			tmp := file + ".tmp" + time.Now().Format("150405.000000000")
			if err := os.WriteFile(tmp, patternBytes(fileOff+fileLen+10), 0o644); err != nil {
				panic(err)
			}
			if err := os.Rename(tmp, file); err != nil {
				panic(err)
			}
		}
		h := &lines{file: file}
		h.setRecorder(newRecorder())
		return service(name, h, l)
	}
}

// errorsIs reports whether err matches target, for close reasons.
func errorsIs(err, target error) bool {
	if target == nil {
		return err == nil
	}
	return errors.Is(err, target)
}
