//go:build !linux

package epoll

import (
	"context"
	"errors"
	"net"

	"github.com/portside/portside/server"
)

// ErrUnsupported is returned by Serve on systems without epoll.
var ErrUnsupported = errors.New("epoll: engine needs Linux")

// Serve closes ln and returns ErrUnsupported.
func (e *Engine) Serve(ctx context.Context, ln net.Listener, s *server.Service) error {
	ln.Close()
	return ErrUnsupported
}
