package server_test

import (
	"testing"

	"github.com/portside/portside/server"
)

// initRecorder is a handler that wants to know its service.
type initRecorder struct {
	server.Base
	calls  int
	limits server.Limits
}

func (*initRecorder) Data(server.Conn, []byte) (int, error) { return 0, nil }
func (h *initRecorder) InitService(s *server.Service) {
	h.calls++
	h.limits = s.Limits
}

// TestInitService: Init tells a ServiceHandler its service once, with the
// defaults filled in.
func TestInitService(t *testing.T) {
	h := new(initRecorder)
	s := &server.Service{Handler: h, Limits: server.Limits{MaxInput: 100}}
	s.Init()
	s.Init()
	if h.calls != 1 {
		t.Errorf("InitService called %d times, want 1", h.calls)
	}
	if h.limits.MaxInput != 100 || h.limits.MaxQueue != server.DefaultMaxQueue {
		t.Errorf("limits %+v: want MaxInput 100 and the default MaxQueue", h.limits)
	}
}
