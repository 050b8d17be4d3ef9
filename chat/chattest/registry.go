// Package chattest holds what tests of chat's doors share: a nick registry
// whose answers the test holds and lets go, to see a door wait for one.
package chattest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portside/portside/chat"
)

// Registry is a chat.Backend (history in memory) and a chat.NickRegistry
// standing in for a cluster's: it answers each claim on a goroutine of its
// own, at once or once the test lets go of the claims it holds; a nick
// named "elsewhere" is in use, any other granted.
type Registry struct {
	*chat.Memory
	Claimed  chan string // each claim, as it goes out
	Released chan string // each release

	mu        sync.Mutex
	holding   bool
	held      []func()
	elsewhere map[string]bool
}

// NewRegistry returns a Registry that refuses the nicks elsewhere.
func NewRegistry(elsewhere ...string) *Registry {
	r := &Registry{
		Memory:    chat.NewMemory(100),
		Claimed:   make(chan string, 100),
		Released:  make(chan string, 100),
		elsewhere: map[string]bool{},
	}
	for _, n := range elsewhere {
		r.elsewhere[n] = true
	}
	return r
}

// ClaimNick implements chat.NickRegistry.
func (r *Registry) ClaimNick(w chat.Who, done func(error)) {
	answer := func() {
		if r.elsewhere[strings.ToLower(w.Nick)] {
			done(chat.ErrNickInUse)
			return
		}
		done(nil)
	}
	r.mu.Lock()
	if r.holding {
		r.held = append(r.held, answer)
	} else {
		go answer()
	}
	r.mu.Unlock()
	r.Claimed <- w.Nick
}

// ReleaseNick implements chat.NickRegistry.
func (r *Registry) ReleaseNick(nick string) { r.Released <- nick }

// Hold keeps the answers to claims from now on until LetGo.
func (r *Registry) Hold() {
	r.mu.Lock()
	r.holding = true
	r.mu.Unlock()
}

// LetGo sends the answers held.
func (r *Registry) LetGo() {
	r.mu.Lock()
	held := r.held
	r.held, r.holding = nil, false
	r.mu.Unlock()
	for _, f := range held {
		go f()
	}
}

// WaitClaim waits for the claim of nick to go out.
func (r *Registry) WaitClaim(t *testing.T, nick string) {
	t.Helper()
	WaitFor(t, r.Claimed, nick, "claim")
}

// WaitFor waits for want on ch; what names it in the failure.
func WaitFor(t *testing.T, ch chan string, want, what string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-ch:
			if got == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %s of %s", what, want)
		}
	}
}
