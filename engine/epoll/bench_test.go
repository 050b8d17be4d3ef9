//go:build linux

package epoll_test

import (
	"testing"

	"github.com/portside/portside/engine/epoll"
	"github.com/portside/portside/engine/goroutine"
	"github.com/portside/portside/server"
	"github.com/portside/portside/server/enginetest"
)

// BenchmarkEcho runs the shared echo benchmark on this engine and, for a
// comparison in one run, on the goroutine engine. The client runs in the
// same process, so the figures compare engines rather than measure one.
func BenchmarkEcho(b *testing.B) {
	b.Run("engine=epoll", func(b *testing.B) {
		enginetest.Benchmark(b, func() server.Engine { return epoll.New(epoll.Options{}) })
	})
	b.Run("engine=goroutine", func(b *testing.B) {
		enginetest.Benchmark(b, func() server.Engine { return goroutine.New() })
	})
}
