//go:build linux

package epoll_test

import (
	"fmt"
	"testing"

	"github.com/portside/portside/engine/epoll"
	"github.com/portside/portside/server"
	"github.com/portside/portside/server/enginetest"
)

func TestConformance(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			enginetest.Run(t, func() server.Engine { return epoll.New(epoll.Options{Loops: loops}) }, enginetest.Options{})
		})
	}
}
