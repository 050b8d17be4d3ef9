//go:build linux

package uring

import (
	"testing"

	"github.com/portside/portside/server"
	"github.com/portside/portside/server/enginetest"
)

// TestConformanceFewBuffers runs the conformance suite with two receive
// buffers per loop, so that receives often find none (ENOBUFS) and must
// be armed again: no input may be lost or reordered for it.
func TestConformanceFewBuffers(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole suite again; skipped with -short")
	}
	recvBufs = 2
	defer func() { recvBufs = nBufs }()
	enginetest.Run(t, func() server.Engine { return New(Options{Loops: 2}) }, enginetest.Options{})
}
