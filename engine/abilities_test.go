package engine

import (
	"slices"
	"testing"
)

func TestAbilities(t *testing.T) {
	for _, name := range Names() {
		if !Can(name, Needs{}) {
			t.Errorf("%s cannot run a plain stateless service", name)
		}
	}
	for _, tc := range []struct {
		name string
		n    Needs
		want bool
	}{
		{"epoll", Needs{TLS: true}, false},
		{"epoll", Needs{SharedState: true}, true},
		{"goroutine", Needs{TLS: true, SharedState: true}, true},
		{"iterative", Needs{TLS: true}, true},
		{"fork", Needs{TLS: true}, true},
		{"fork", Needs{SharedState: true}, false},
		{"steam", Needs{}, false},
	} {
		if got := Can(tc.name, tc.n); got != tc.want {
			t.Errorf("Can(%s, %+v) = %t, want %t", tc.name, tc.n, got, tc.want)
		}
	}
	if got := Able(Needs{SharedState: true}); slices.Contains(got, "fork") || !slices.Contains(got, Default) {
		t.Errorf("Able(shared state) = %v", got)
	}
}
