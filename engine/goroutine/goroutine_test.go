package goroutine_test

import (
	"testing"

	"github.com/portside/portside/engine/goroutine"
	"github.com/portside/portside/server"
	"github.com/portside/portside/server/enginetest"
)

func TestConformance(t *testing.T) {
	enginetest.Run(t, func() server.Engine { return goroutine.New() }, enginetest.Options{})
}

func BenchmarkEcho(b *testing.B) {
	enginetest.Benchmark(b, func() server.Engine { return goroutine.New() })
}
