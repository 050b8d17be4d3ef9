// Package engine names portside's concurrency engines, so that the command
// line and the servers' tests can pick one by name.
package engine

import (
	"fmt"
	"io"
	"slices"

	"github.com/portside/portside/engine/epoll"
	"github.com/portside/portside/engine/fork"
	"github.com/portside/portside/engine/goroutine"
	"github.com/portside/portside/engine/iterative"
	"github.com/portside/portside/engine/readiness"
	"github.com/portside/portside/engine/uring"
	"github.com/portside/portside/server"
)

// Options tune the engines that have knobs; each engine ignores the rest.
type Options struct {
	Loops       int       // epoll, uring: event loops; 0 means one per CPU
	MaxChildren int       // fork: concurrent child processes; 0 means the default
	Stderr      io.Writer // fork: where children's standard error (their logs) goes; nil means os.Stderr
}

// Default is the engine used when none is named: epoll spends less CPU per
// message and less memory per connection than the goroutine engine, has no
// descriptor ceiling (select's is 1024), costs per wake-up what is ready
// rather than all it watches (as poll does), and passes the whole
// conformance suite (docs/engines.md has the measurements).
const Default = "epoll"

// ForTLS is the default for services that serve TLS, which only the
// goroutine-based engines can (Can tells which).
const ForTLS = "goroutine"

// entry is one engine: how to make it, and which fields of Options it
// reads (the others ignore every other field), so that Takes is said where
// the options are used.
type entry struct {
	mk    func(Options) server.Engine
	takes []string
}

var engines = map[string]entry{
	"goroutine": {mk: func(Options) server.Engine { return goroutine.New() }},
	"iterative": {mk: func(Options) server.Engine { return iterative.New() }},
	"fork": {mk: func(o Options) server.Engine { return &fork.Engine{MaxChildren: o.MaxChildren, Stderr: o.Stderr} },
		takes: []string{"MaxChildren"}},
	"epoll": {mk: func(o Options) server.Engine { return epoll.New(epoll.Options{Loops: o.Loops}) },
		takes: []string{"Loops"}},
	"select": {mk: func(Options) server.Engine { return readiness.NewSelect() }},
	"poll":   {mk: func(Options) server.Engine { return readiness.NewPoll() }},
	"uring": {mk: func(o Options) server.Engine { return uring.New(uring.Options{Loops: o.Loops}) },
		takes: []string{"Loops"}},
}

// Names lists the engines, sorted.
func Names() []string {
	names := make([]string, 0, len(engines))
	for n := range engines {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// New returns the engine called name.
func New(name string, o Options) (server.Engine, error) {
	e, ok := engines[name]
	if !ok {
		return nil, fmt.Errorf("engine: unknown engine %q (have %v)", name, Names())
	}
	return e.mk(o), nil
}
