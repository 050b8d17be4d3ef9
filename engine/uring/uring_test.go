//go:build linux

package uring_test

import (
	"testing"

	"github.com/portside/portside/engine/uring"
	"github.com/portside/portside/server"
	"github.com/portside/portside/server/enginetest"
)

func TestConformance(t *testing.T) {
	enginetest.Run(t, func() server.Engine { return uring.New(uring.Options{Loops: 2}) }, enginetest.Options{})
}
