package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/portside/portside/internal/testkit"
)

// scrape parses the real command's /metrics.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// sample returns the value of the series of family name whose labels
// include labels, or -1 if there is none.
func sample(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	for _, m := range families[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range labels {
			match = match && have[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// TestServiceMetrics: after some traffic, /metrics of the real command
// counts HTTP responses by method and status class, and chat's members,
// rooms, messages, deliveries, drops and history commits.
func TestServiceMetrics(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "a.txt"), []byte("a"), 0o644)
	addrs := serve(t, []string{"http/http", "chat/tcp", "metrics/http"}, "serve", "--echo-listen", "127.0.0.1:0",
		"--http-listen", "127.0.0.1:0", "--http-root", root, "--http-access-log", "off", "--metrics", "127.0.0.1:0",
		"--chat-listen", "127.0.0.1:0", "--chat-data", t.TempDir(), "--chat-fsync=never", "--chat-flood-burst", "3", "--chat-flood-rate", "0.01")
	base := "http://" + addrs["http/http"]
	for _, path := range []string{"/a.txt", "/a.txt", "/missing"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if resp, err := http.Head(base + "/a.txt"); err == nil {
		resp.Body.Close()
	}

	login := func(nick string) *testkit.Peer {
		p := testkit.Dial(t, addrs["chat/tcp"], nick)
		p.Wait = 60 * time.Second
		p.Send(nick)
		p.Expect("* You are in lobby")
		return p
	}
	ana, bob := login("ana"), login("bob")
	ana.Send("one")
	bob.Expect("<ana> one\r\n")
	ana.Send("two")
	bob.Expect("<ana> two\r\n")
	ana.Send("three") // her name, one, two: the burst of 3 is spent, so flood control drops it
	var f map[string]*dto.MetricFamily
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if f = scrape(t, addrs["metrics/http"]); sample(f, "portside_chat_dropped_total", map[string]string{"reason": "flood"}) >= 1 {
			break
		}
	}
	for _, tc := range []struct {
		name    string
		labels  map[string]string
		want    float64
		atLeast bool
	}{
		{"portside_http_requests_total", map[string]string{"service": "http", "method": "GET", "class": "2xx"}, 2, false},
		{"portside_http_requests_total", map[string]string{"service": "http", "method": "GET", "class": "4xx"}, 1, false},
		{"portside_http_requests_total", map[string]string{"service": "http", "method": "HEAD", "class": "2xx"}, 1, false},
		{"portside_chat_members", nil, 2, false},
		{"portside_chat_rooms", nil, 1, false},
		{"portside_chat_messages_total", nil, 2, true}, // and joins, if kept
		{"portside_chat_deliveries_total", nil, 2, true},
		{"portside_chat_dropped_total", map[string]string{"reason": "flood"}, 1, false},
		{"portside_chat_dropped_total", map[string]string{"reason": "busy"}, 0, false},
		{"portside_chat_history_commit_seconds", nil, 1, true},
	} {
		if got := sample(f, tc.name, tc.labels); got != tc.want && !(tc.atLeast && got > tc.want) {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}
