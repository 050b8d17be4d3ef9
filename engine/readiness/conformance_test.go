//go:build linux

package readiness_test

import (
	"testing"

	"github.com/portside/portside/engine/readiness"
	"github.com/portside/portside/server/enginetest"
)

func TestConformanceSelect(t *testing.T) {
	enginetest.Run(t, readiness.NewSelect, enginetest.Options{
		// The suite's clients and the engine's connections share this
		// process's descriptors, two per connection: 1,000 of each
		// would climb past select's ceiling of 1024.
		Conns: 400,
	})
}

func TestConformancePoll(t *testing.T) {
	enginetest.Run(t, readiness.NewPoll, enginetest.Options{})
}
