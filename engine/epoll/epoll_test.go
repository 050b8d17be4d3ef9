//go:build linux

package epoll_test

import (
	"testing"

	"github.com/portside/portside/engine/epoll"
	"github.com/portside/portside/server"
	"github.com/portside/portside/server/enginetest"
)

// TestConformance runs the suite with two loops, so that connections are
// both kept by the accepting loop and handed to the other.
func TestConformance(t *testing.T) {
	enginetest.Run(t, func() server.Engine { return epoll.New(epoll.Options{Loops: 2}) }, enginetest.Options{})
}
