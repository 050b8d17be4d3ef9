//go:build !linux

package readiness

import (
	"context"
	"net"

	"github.com/portside/portside/server"
)

// Serve closes ln and returns ErrUnsupported.
func (e *Engine) Serve(ctx context.Context, ln net.Listener, s *server.Service) error {
	ln.Close()
	return ErrUnsupported
}
