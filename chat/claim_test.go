package chat

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// claims is a NickRegistry whose answers the test gives: each claim waits
// in a channel until the test calls its done.
type claims struct {
	*Memory
	out chan claim
	// answerNow answers every claim with nil inside ClaimNick, as a
	// registry must not; inClaim is set meanwhile.
	answerNow bool
	inClaim   atomic.Bool

	mu       sync.Mutex
	released []string
}

type claim struct {
	nick string
	done func(error)
}

func newClaims() *claims { return &claims{Memory: NewMemory(10), out: make(chan claim, 10)} }

func (r *claims) ClaimNick(w Who, done func(error)) {
	nick := w.Nick
	if r.answerNow {
		r.inClaim.Store(true)
		done(nil)
		r.inClaim.Store(false)
		return
	}
	r.out <- claim{nick, done}
}

func (r *claims) ReleaseNick(nick string) {
	r.mu.Lock()
	r.released = append(r.released, nick)
	r.mu.Unlock()
}

func (r *claims) releases() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.released)
}

// next is the claim waiting for an answer; there must be one.
func (r *claims) next(t *testing.T) claim {
	t.Helper()
	select {
	case c := <-r.out:
		return c
	default:
		t.Fatal("no claim is out")
		return claim{}
	}
}

// answers records what done is called with.
type answers struct {
	mu  sync.Mutex
	got []error
}

func (a *answers) done(err error) {
	a.mu.Lock()
	a.got = append(a.got, err)
	a.mu.Unlock()
}

func (a *answers) list() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

// registerNow registers nick on h, whose claims r answers at once.
func registerNow(t *testing.T, h *Hub, r *claims, nick string) (*Member, *sink) {
	t.Helper()
	s := new(sink)
	m := h.NewMember(s, nopDoor{}, h.lineFmt, false)
	var a answers
	if err := h.Register(m, nick, "u@h", "r", a.done); !errors.Is(err, ErrPending) {
		t.Fatalf("Register(%s) = %v, want ErrPending", nick, err)
	}
	r.next(t).done(nil)
	if got := a.list(); len(got) != 1 || got[0] != nil {
		t.Fatalf("Register(%s) answered %v, want [nil]", nick, got)
	}
	return m, s
}

func TestRegisterPending(t *testing.T) {
	errDown := errors.New("registry down")
	tests := []struct {
		name         string
		answer       error
		quit         bool // the member quits while the claim is out
		want         error
		registered   bool
		wantReleased []string
	}{
		{"granted", nil, false, nil, true, nil},
		{"held elsewhere", ErrNickInUse, false, ErrNickInUse, false, nil},
		{"registry cannot tell", errDown, false, errDown, false, nil},
		{"quit meanwhile", nil, true, ErrClosed, false, []string{"ana"}},
		{"quit meanwhile, refused anyway", ErrNickInUse, true, ErrNickInUse, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newClaims()
			h := New(Options{Backend: r})
			m := h.NewMember(new(sink), nopDoor{}, h.lineFmt, false)
			var a answers
			if err := h.Register(m, "ana", "u@h", "r", a.done); !errors.Is(err, ErrPending) {
				t.Fatalf("Register = %v, want ErrPending", err)
			}
			c := r.next(t)
			if c.nick != "ana" {
				t.Errorf("claimed %q, want ana", c.nick)
			}
			if got := a.list(); len(got) != 0 {
				t.Fatalf("done called with %v before the registry answered", got)
			}
			if tt.quit {
				h.Quit(m, "gone")
			}
			c.done(tt.answer)
			if got := a.list(); len(got) != 1 || !errors.Is(got[0], tt.want) {
				t.Errorf("done called with %v, want once with %v", got, tt.want)
			}
			if got := h.lookup("ana") == m; got != tt.registered {
				t.Errorf("registered: %v, want %v", got, tt.registered)
			}
			if got := r.releases(); !slices.Equal(got, tt.wantReleased) {
				t.Errorf("released %v, want %v", got, tt.wantReleased)
			}
		})
	}
}

// TestRegisterAtOnce: answers at hand come back from Register, and no
// claim goes out.
func TestRegisterAtOnce(t *testing.T) {
	r := newClaims()
	h := New(Options{Backend: r})
	registerNow(t, h, r, "ana")
	tests := []struct {
		nick string
		want error
	}{
		{"9lives", ErrBadNick},
		{"ana", ErrNickInUse},
		{"ANA", ErrNickInUse},
	}
	for _, tt := range tests {
		t.Run(tt.nick, func(t *testing.T) {
			var a answers
			m := h.NewMember(new(sink), nopDoor{}, h.lineFmt, false)
			if err := h.Register(m, tt.nick, "u@h", "r", a.done); !errors.Is(err, tt.want) {
				t.Errorf("Register(%q) = %v, want %v", tt.nick, err, tt.want)
			}
			if len(r.out) != 0 || len(a.list()) != 0 {
				t.Errorf("a claim went out (%d) or done was called (%v)", len(r.out), a.list())
			}
		})
	}
}

// TestRegisterHubStopped: a claim that comes back after the hub stopped
// is released.
func TestRegisterHubStopped(t *testing.T) {
	r := newClaims()
	h := New(Options{Backend: r})
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- h.Run(ctx) }()
	m := h.NewMember(new(sink), nopDoor{}, h.lineFmt, false)
	var a answers
	if err := h.Register(m, "ana", "u@h", "r", a.done); !errors.Is(err, ErrPending) {
		t.Fatalf("Register = %v, want ErrPending", err)
	}
	cancel()
	<-ran
	r.next(t).done(nil)
	if got := a.list(); len(got) != 1 || !errors.Is(got[0], ErrClosed) {
		t.Errorf("done called with %v, want once with ErrClosed", got)
	}
	if got := r.releases(); !slices.Equal(got, []string{"ana"}) {
		t.Errorf("released %v, want [ana]", got)
	}
}

// TestRegisterAnsweredAtOnce: even a registry that answers inside
// ClaimNick gets done called after Register returned, not within.
func TestRegisterAnsweredAtOnce(t *testing.T) {
	r := newClaims()
	r.answerNow = true
	h := New(Options{Backend: r})
	m := h.NewMember(new(sink), nopDoor{}, h.lineFmt, false)
	within := make(chan bool, 1)
	err := h.Register(m, "ana", "u@h", "r", func(err error) { within <- r.inClaim.Load() })
	if !errors.Is(err, ErrPending) {
		t.Fatalf("Register = %v, want ErrPending", err)
	}
	if <-within {
		t.Error("done was called within ClaimNick, before Register returned")
	}
	if h.lookup("ana") != m {
		t.Error("not registered")
	}
}

func TestRenamePending(t *testing.T) {
	tests := []struct {
		name         string
		answer       error
		quit         bool
		want         error
		wantNick     string
		wantReleased []string
	}{
		{"granted", nil, false, nil, "bob", []string{"ana"}},
		{"held elsewhere", ErrNickInUse, false, ErrNickInUse, "ana", nil},
		{"quit meanwhile", nil, true, ErrClosed, "ana", []string{"ana", "bob"}}, // ana by Quit
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newClaims()
			h := New(Options{Backend: r})
			m, _ := registerNow(t, h, r, "ana")
			peer, ps := registerNow(t, h, r, "cyd")
			for _, x := range []*Member{m, peer} {
				if err := h.Join(x, "lobby", nil, nil); err != nil {
					t.Fatal(err)
				}
			}
			before := ps.n.Load()
			var a answers
			if err := h.Rename(m, "bob", a.done); !errors.Is(err, ErrPending) {
				t.Fatalf("Rename = %v, want ErrPending", err)
			}
			if tt.quit {
				h.Quit(m, "gone")
				before = ps.n.Load()
			}
			r.next(t).done(tt.answer)
			if got := a.list(); len(got) != 1 || !errors.Is(got[0], tt.want) {
				t.Errorf("done called with %v, want once with %v", got, tt.want)
			}
			if got := m.Nick(); got != tt.wantNick {
				t.Errorf("nick %q, want %q", got, tt.wantNick)
			}
			if got := r.releases(); !slices.Equal(got, tt.wantReleased) {
				t.Errorf("released %v, want %v", got, tt.wantReleased)
			}
			want := int64(0)
			if tt.want == nil {
				want = 1
			}
			if told := ps.n.Load() - before; told != want {
				t.Errorf("the peer was told %d times of a rename, want %d", told, want)
			}
		})
	}
}

// TestRenameAtOnce: a change of case, or a nick held here, needs no claim.
func TestRenameAtOnce(t *testing.T) {
	r := newClaims()
	h := New(Options{Backend: r})
	m, _ := registerNow(t, h, r, "ana")
	registerNow(t, h, r, "bob")
	tests := []struct {
		nick     string
		want     error
		wantNick string
	}{
		{"BOB", ErrNickInUse, "ana"},
		{"Ana", nil, "Ana"},
		{"-x", ErrBadNick, "Ana"},
	}
	for _, tt := range tests {
		t.Run(tt.nick, func(t *testing.T) {
			var a answers
			if err := h.Rename(m, tt.nick, a.done); !errors.Is(err, tt.want) {
				t.Errorf("Rename(%q) = %v, want %v", tt.nick, err, tt.want)
			}
			if len(r.out) != 0 || len(a.list()) != 0 {
				t.Errorf("a claim went out (%d) or done was called (%v)", len(r.out), a.list())
			}
			if got := m.Nick(); got != tt.wantNick {
				t.Errorf("nick %q, want %q", got, tt.wantNick)
			}
		})
	}
}
