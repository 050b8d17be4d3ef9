//go:build !linux

package uring

import (
	"context"
	"errors"
	"net"

	"github.com/portside/portside/server"
)

// ErrUnavailable is returned by Serve where io_uring cannot be used.
var ErrUnavailable = errors.New("uring: io_uring is unavailable: engine needs Linux")

// Serve closes ln and returns ErrUnavailable.
func (e *Engine) Serve(ctx context.Context, ln net.Listener, s *server.Service) error {
	ln.Close()
	return ErrUnavailable
}
