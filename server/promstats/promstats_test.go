package promstats_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portside/portside/server"
	"github.com/portside/portside/server/promstats"
)

// TestCollect: each added service's counters are read at scrape time,
// labelled by service and engine.
func TestCollect(t *testing.T) {
	var c promstats.Collector
	var echo, chat server.Stats
	c.Add("echo", "epoll", &echo)
	c.Add("chat", "goroutine", &chat)
	echo.ConnsTotal.Add(3)
	chat.HandlerPanics.Add(2)
	reg := prometheus.NewRegistry()
	reg.MustRegister(&c)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if n := len(f.GetMetric()); n != 2 {
			t.Errorf("%s: %d series, want one per service", f.GetName(), n)
		}
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			if m.Counter != nil {
				got[key] = m.Counter.GetValue()
			} else {
				got[key] = m.Gauge.GetValue()
			}
		}
	}
	for key, want := range map[string]float64{
		"portside_connections_total engine=epoll service=echo":        3,
		"portside_handler_panics_total engine=goroutine service=chat": 2,
		"portside_handler_panics_total engine=epoll service=echo":     0,
		"portside_connections_open engine=goroutine service=chat":     0,
	} {
		v, ok := got[key]
		if !ok || v != want {
			t.Errorf("%s = %v (present %t), want %v", key, v, ok, want)
		}
	}
}
