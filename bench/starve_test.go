package bench_test

import (
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/echo"
	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/server"
)

// startEchoOn serves portside's echo service under the named engine.
func startEchoOn(t *testing.T, engine string) string {
	t.Helper()
	return testkit.Serve(t, engine, &server.Service{Name: "echo", Handler: echo.New(echo.Options{})})
}

// TestIterativeStarvation: the iterative engine serves one connection at a
// time, so of 8 connections that all stay open, 7 never get an answer. The
// report must say so (their requests are unanswered, the connections
// starved, the run failed), and must say nothing of the kind for an engine
// that serves them all.
func TestIterativeStarvation(t *testing.T) {
	for _, tc := range []struct {
		engine string
		starve bool
	}{
		{"iterative", true},
		{"epoll", false},
	} {
		t.Run(tc.engine, func(t *testing.T) {
			addr := startEchoOn(t, tc.engine)
			cfg := echoConfig(addr)
			cfg.Targets[0].Name = tc.engine
			cfg.Conns, cfg.Duration, cfg.Warmup = 8, time.Second, 200*time.Millisecond
			cfg.Timeout = 2 * time.Second
			if !tc.starve {
				cfg.Timeout = 20 * time.Second // a healthy server is never waited for
			}
			rep := run(t, cfg)
			tr := rep.Targets[0]
			var text strings.Builder
			rep.WriteText(&text)
			t.Logf("report:\n%s", text.String())
			unanswered := tr.ErrorKinds["unanswered"]
			warned := false
			for _, w := range rep.Warnings {
				warned = warned || strings.Contains(w, "starve")
			}
			if !tc.starve {
				if rep.Failed() != 0 || unanswered != 0 || warned || tr.Requests == 0 {
					t.Errorf("%d good, %d failed %v, starvation warning %v; want no failures and no warning",
						tr.Requests, rep.Failed(), tr.ErrorKinds, warned)
				}
				return
			}
			// Each starved connection sent one message, and it was never
			// answered.
			if unanswered != 7 {
				t.Errorf("%d unanswered (%v), want 7: one for each starved connection", unanswered, tr.ErrorKinds)
			}
			if rep.Failed() == 0 {
				t.Errorf("Failed() = 0: the run must fail")
			}
			if !warned {
				t.Errorf("no starvation warning in %q", rep.Warnings)
			}
			if !strings.Contains(text.String(), "unanswered 7") {
				t.Errorf("the text report does not count the unanswered messages")
			}
		})
	}
}
