package bench

import (
	"bytes"
	"encoding/json"
	"flag"
	"github.com/portside/portside/internal/testkit"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", name), got, *update)
}

// syntheticReport is a compare-mode HTTP report built from fixed figures,
// so its JSON and text are stable.
func syntheticReport(t *testing.T) *Report {
	t.Helper()
	cfg := Config{
		Mode: HTTP,
		Targets: []Target{
			{Name: "nginx", Addr: "http://127.0.0.1:8080/1k", PIDs: []int{101}},
			{Name: "portside", Addr: "http://127.0.0.1:8081/1k", PIDs: []int{202}},
		},
		Conns: 50, Duration: 10 * time.Second, Warmup: time.Second, Rounds: 2,
		HTTP: HTTPOptions{Length: -1},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var res []*result
	for i := range cfg.Targets {
		r := newResult()
		slow := int64(1 + i)
		for v := range int64(20000) {
			lat := (200 + v%97) * 1000 * slow
			if v%1000 == 0 {
				lat = 5_000_000 * slow // a tail
			}
			recordHist(r.lat, lat)
		}
		for v := range int64(50) {
			recordHist(r.conn, (40+v)*1000)
		}
		r.ok, r.sent, r.ns = 20000, 20010-int64(10*i), 20e9
		if i == 1 {
			r.errs[kindStatus], r.errs[kindClosed] = 7, 3
		}
		for s := range 40 {
			r.tl = append(r.tl, Sample{T: float64(s+1) * 0.5, OK: float64(1000 - 100*i + s%3*10), Errors: float64(i * (s % 2))})
		}
		r.rounds = []Round{{Seconds: 10, Requests: 10000, Throughput: 1000, P50: 250, P99: 300}, {Seconds: 10, Requests: 10000, Throughput: 1000, P50: 251, P99: 302}}
		r.gu, r.gs, r.gwall = 3*time.Second, 5*time.Second, 20*time.Second
		r.su, r.ss = time.Duration(2+i)*time.Second, 6*time.Second
		for c := range int64(100) { // 50 connections, 2 rounds
			r.perConn = append(r.perConn, 190+c%21)
		}
		r.cpus, r.procs = []int{0}, 1
		r.saturated = 0.4
		res = append(res, r)
	}
	return build(&cfg, time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC), res, false)
}

func TestReportJSON(t *testing.T) {
	rep := syntheticReport(t)
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.json", b.Bytes())
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Schema != Schema || len(back.Targets) != 2 {
		t.Errorf("round trip: schema %q, %d targets", back.Schema, len(back.Targets))
	}
}

func TestReportText(t *testing.T) {
	var b bytes.Buffer
	if err := syntheticReport(t).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", b.Bytes())
}

// TestReportHTML opens the report in headless Chromium, checks it drew its
// charts from nothing but the file, and keeps a screenshot.
func TestReportHTML(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var b bytes.Buffer
	if err := syntheticReport(t).WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "reqs per connection</td><td>min 190 · median 200 · max 210</td>") {
		t.Errorf("the HTML report does not show the replies per connection")
	}
	if refs := regexp.MustCompile(`(src|href)\s*=|@import|url\(`).FindAllString(b.String(), -1); len(refs) > 0 {
		t.Errorf("the report refers to outside resources: %q", refs)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	bctx := testkit.Browser(t, 1100, 900, 60*time.Second)

	var title, embedded string
	var lines, rows int
	var shot []byte
	err := chromedp.Run(bctx,
		chromedp.Navigate("file://"+page),
		chromedp.Title(&title),
		chromedp.Evaluate(`document.querySelectorAll("svg polyline").length`, &lines),
		chromedp.Evaluate(`document.querySelectorAll("table tr").length`, &rows),
		chromedp.Evaluate(`JSON.parse(document.getElementById("report").textContent).schema`, &embedded),
		chromedp.FullScreenshot(&shot, 100),
	)
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if !strings.Contains(title, "nginx vs portside") {
		t.Errorf("title %q", title)
	}
	// Two targets on two charts, plus the error line of the second.
	if lines != 5 {
		t.Errorf("%d lines drawn, want 5", lines)
	}
	if rows < 8 {
		t.Errorf("%d table rows", rows)
	}
	if embedded != Schema {
		t.Errorf("embedded JSON says schema %q", embedded)
	}
	if len(shot) < 10_000 || !bytes.HasPrefix(shot, []byte("\x89PNG")) {
		t.Fatalf("screenshot of %d bytes is not a PNG", len(shot))
	}
	out := filepath.Join(dir, "report.png")
	if p := os.Getenv("PORTSIDE_BENCH_SCREENSHOT"); p != "" {
		out = p // to look at it
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", out)
}

// TestSpread: the starvation rule, at its edges.
func TestSpread(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       []int64
		starved int
	}{
		{"fair", []int64{100, 95, 104, 99}, 0},
		{"one slow", []int64{100, 95, 9, 99}, 1},
		{"a tenth is not starved", []int64{100, 100, 10, 100}, 0},
		{"one served, the rest none", []int64{0, 0, 0, 5000, 0, 0, 0, 0}, 7},
		{"too few replies to tell", []int64{1, 0, 2, 0, 1}, 0},
		{"none at all", []int64{0, 0}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s := spread(tc.n); s.Starved != tc.starved || s.Connections != len(tc.n) {
				t.Errorf("spread(%v) = %+v, want %d starved", tc.n, s, tc.starved)
			}
		})
	}
}

// TestRatiosWithoutGoodReplies: a target with no good replies has no
// throughput or latency to compare against, and its ratios say so rather
// than 0.00×, in text, JSON and HTML.
func TestRatiosWithoutGoodReplies(t *testing.T) {
	rep := syntheticReport(t)
	// The base, nginx, answered nothing well.
	b := &rep.Targets[0]
	b.Requests, b.Throughput, b.Latency, b.Percentiles = 0, 0, Latency{}, nil
	b.Server.UserPer, b.Server.SysPer = 0, 0
	rep.Ratios = ratios(rep.Targets)
	var text, js, page bytes.Buffer
	rep.WriteText(&text)
	rep.WriteJSON(&js)
	rep.WriteHTML(&page)
	against := text.String()[strings.Index(text.String(), "against nginx"):]
	if strings.Contains(against, "0.00×") || strings.Count(against, "n/a") != 4 {
		t.Errorf("ratios against a target without good replies:\n%s", against)
	}
	var back struct {
		Ratios []map[string]any `json:"ratios"`
	}
	json.Unmarshal(js.Bytes(), &back)
	if r := back.Ratios[0]; r["throughput"] != nil || r["p50"] != nil || r["p99"] != nil {
		t.Errorf("JSON ratios %v: want null", r)
	}
	if strings.Contains(page.String(), "0.00×") || !strings.Contains(page.String(), "n/a") {
		t.Errorf("the HTML report shows 0.00× or no n/a")
	}
}
