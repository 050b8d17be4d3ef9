package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"

	"github.com/portside/portside/server"
)

// Needs are what a service asks of an engine beyond the contract every
// engine keeps.
type Needs struct {
	TLS         bool // it serves TLS (server.Service.TLS)
	SharedState bool // it keeps state across connections (not server.Service.Stateless)
}

// Can reports whether the engine called name can run a service with needs.
// It asks the engine itself rather than a table kept beside it: an engine
// refuses what it cannot offer at the top of Serve (server.ErrNoTLS,
// server.ErrNoSharedState), so Serve on a closed listener under a
// cancelled context tells, without a socket and without serving.
func Can(name string, n Needs) bool {
	e, ok := engines[name]
	if !ok {
		return false
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &server.Service{
		Name:      "probe",
		Handler:   nopHandler{},
		Stateless: !n.SharedState,
		Logger:    slog.New(slog.DiscardHandler),
	}
	if n.TLS {
		s.TLS = &tls.Config{}
	}
	err := e.mk(Options{Stderr: io.Discard}).Serve(ctx, closedListener{}, s)
	return !errors.Is(err, server.ErrNoTLS) && !errors.Is(err, server.ErrNoSharedState)
}

// Able lists, sorted, the engines that can run a service with needs.
func Able(n Needs) []string {
	var names []string
	for _, name := range Names() {
		if Can(name, n) {
			names = append(names, name)
		}
	}
	return names
}

// Takes reports whether the engine called name uses the option of Options
// called field ("Loops", "MaxChildren"); the others ignore it, so a command
// line can refuse an option that would do nothing.
func Takes(name, field string) bool {
	return slices.Contains(engines[name].takes, field)
}

type nopHandler struct{ server.Base }

func (nopHandler) Data(server.Conn, []byte) (int, error) { return 0, nil }

// closedListener is a listener already closed: Accept fails at once.
type closedListener struct{}

func (closedListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (closedListener) Close() error              { return nil }
func (closedListener) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
