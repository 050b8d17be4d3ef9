package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Schema names the JSON report's format. It changes when a field changes
// meaning or goes away; fields may be added within a version.
const Schema = "portside-bench/v1"

// Report is the outcome of a run, as printed, written as JSON and drawn in
// HTML. Latencies are in microseconds, rates per second.
type Report struct {
	Schema      string          `json:"schema"`
	Started     time.Time       `json:"started"`
	Mode        Mode            `json:"mode"`
	Transport   string          `json:"transport"`
	Load        string          `json:"load"` // "closed" or "open"
	Unit        string          `json:"unit"` // what a request is called: "msg" or "req"
	Config      ConfigReport    `json:"config"`
	Interrupted bool            `json:"interrupted"`
	Targets     []TargetReport  `json:"targets"`
	Ratios      []Ratio         `json:"ratios,omitempty"`
	Generator   GeneratorReport `json:"generator"`
	Warnings    []string        `json:"warnings"`
}

// ConfigReport is the configuration the run had.
type ConfigReport struct {
	Conns     int      `json:"connections"`
	Pipeline  int      `json:"pipeline"`
	Duration  float64  `json:"duration_s"`
	Count     int64    `json:"count,omitempty"`
	Warmup    float64  `json:"warmup_s"`
	Rate      float64  `json:"rate,omitempty"`
	Rounds    int      `json:"rounds"`
	Timeout   float64  `json:"timeout_s"`
	Size      int      `json:"size,omitempty"`
	KeepAlive *bool    `json:"keep_alive,omitempty"`
	Method    string   `json:"method,omitempty"`
	Paths     []string `json:"paths,omitempty"`
}

// Latency summarises a histogram, in microseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

// TargetReport is one target's results over all its rounds.
type TargetReport struct {
	Name     string `json:"name"`
	Addr     string `json:"addr"`
	PIDs     []int  `json:"pids,omitempty"`
	Requests int64  `json:"requests"` // replies that passed every check
	Errors   int64  `json:"errors"`
	// ErrorKinds breaks Errors down: connect, timeout, closed, io,
	// mismatch, status, length, protocol, lost, unanswered.
	ErrorKinds map[string]int64 `json:"error_kinds"`
	// PerConn is how the good replies spread over the connections.
	PerConn    Spread  `json:"per_connection"`
	Seconds    float64 `json:"seconds"`    // measured time, all rounds
	Throughput float64 `json:"throughput"` // good replies per second
	SendRate   float64 `json:"send_rate"`  // requests sent per second
	TargetRate float64 `json:"target_rate,omitempty"`
	// Latency is measured from the intended send time in open loop
	// (coordinated omission corrected), from the send in closed loop.
	Latency     Latency    `json:"latency_us"`
	Uncorrected *Latency   `json:"uncorrected_latency_us,omitempty"`
	Lag         *Latency   `json:"schedule_lag_us,omitempty"`
	Connect     Latency    `json:"connect_us"`
	Server      *ServerCPU `json:"server_cpu,omitempty"`
	Generator   CPUUse     `json:"generator_cpu"`
	Rounds      []Round    `json:"rounds"`
	Percentiles []Point    `json:"percentiles"`
	Timeline    []Sample   `json:"timeline"`
}

// Spread is how many good replies each connection got: each of the
// connections of each round is one. A starved connection got under a tenth
// of the median, or none while another got 10 or more: a server that
// serves some connections and leaves the others waiting.
type Spread struct {
	Connections int   `json:"connections"`
	Min         int64 `json:"min"`
	Median      int64 `json:"median"`
	Max         int64 `json:"max"`
	Starved     int   `json:"starved"`
}

// spread summarises replies per connection.
func spread(n []int64) Spread {
	if len(n) == 0 {
		return Spread{}
	}
	s := slices.Clone(n)
	slices.Sort(s)
	sp := Spread{Connections: len(s), Min: s[0], Median: s[len(s)/2], Max: s[len(s)-1]}
	if sp.Max >= 10 {
		for _, v := range s {
			if v*10 < sp.Median || v == 0 {
				sp.Starved++
			}
		}
	}
	return sp
}

// ServerCPU is the server processes' CPU time over the measured windows.
type ServerCPU struct {
	User    float64 `json:"user_s"`
	Sys     float64 `json:"sys_s"`
	UserPer float64 `json:"user_us_per_req"`
	SysPer  float64 `json:"sys_us_per_req"`
	Percent float64 `json:"percent_of_one_core"`
	// Cycles per request, when perf can count them on this machine.
	CyclesUser   *float64 `json:"cycles_user_per_req,omitempty"`
	CyclesKernel *float64 `json:"cycles_kernel_per_req,omitempty"`
}

// CPUUse is the generator's CPU time while measuring a target.
type CPUUse struct {
	User    float64 `json:"user_s"`
	Sys     float64 `json:"sys_s"`
	Percent float64 `json:"percent_of_allowed"`
}

// Round is one measured window.
type Round struct {
	Seconds    float64 `json:"seconds"`
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50_us"`
	P99        float64 `json:"p99_us"`
}

// Point is a latency at a percentile.
type Point struct {
	Percentile float64 `json:"percentile"`
	Latency    float64 `json:"latency_us"`
}

// Sample is throughput over one slice of the measured time; T is its end,
// in seconds from the start of the target's first round.
type Sample struct {
	T      float64 `json:"t_s"`
	OK     float64 `json:"ok_per_s"`
	Errors float64 `json:"errors_per_s"`
}

// Ratio compares a target with the first: above 1 means more. A ratio is
// null (n/a) when a figure it needs is missing: the base had no good
// replies, or for latency and CPU, either target had none.
type Ratio struct {
	Target     string   `json:"target"`
	Base       string   `json:"base"`
	Throughput *float64 `json:"throughput"`
	P50        *float64 `json:"p50"`
	P99        *float64 `json:"p99"`
	ServerCPU  *float64 `json:"server_cpu_per_req,omitempty"`
}

// GeneratorReport is where the generator ran.
type GeneratorReport struct {
	CPUs       string `json:"cpus"`
	Cores      int    `json:"cores"`
	GOMAXPROCS int    `json:"gomaxprocs"`
}

// result accumulates one target's rounds.
type result struct {
	lat, unc, lag, conn *hdrhistogram.Histogram
	ok, sent            int64
	errs                [numKinds]int64
	ns                  int64
	tl                  []Sample
	rounds              []Round
	gu, gs, gwall       time.Duration
	su, ss              time.Duration
	srvOK               bool
	srvErr              string
	cycU, cycK          int64
	cycOK               bool
	perConn             []int64 // good replies of each connection of each round
	cpus                []int
	procs               int
	shared              []string
	saturated           float64 // highest generator use, of the allowed cores
}

func newResult() *result {
	return &result{lat: newHist(), unc: newHist(), lag: newHist(), conn: newHist(), srvOK: true, cycOK: true}
}

func (res *result) add(r *run) {
	lat := newHist()
	for _, sh := range r.shards {
		lat.Merge(sh.lat)
		res.unc.Merge(sh.unc)
		res.lag.Merge(sh.lag)
		res.conn.Merge(sh.conn)
	}
	res.lat.Merge(lat)
	var ok, nerr int64
	var tlOK, tlErr []int64
	for _, w := range r.workers {
		ok += w.ok
		res.perConn = append(res.perConn, w.ok)
		res.sent += w.sent
		for k, n := range w.errs {
			res.errs[k] += n
			nerr += n
		}
		for i, n := range w.tlOK {
			tlOK = bump(tlOK, int64(i), n)
		}
		for i, n := range w.tlErr {
			tlErr = bump(tlErr, int64(i), n)
		}
	}
	res.ok += ok
	win := r.winEnd - r.winStart
	start := float64(res.ns) / 1e9
	res.ns += win
	for i := range max(len(tlOK), len(tlErr)) {
		lo := int64(i) * r.bucket
		if lo >= win {
			break
		}
		width := float64(min(r.bucket, win-lo)) / 1e9
		var s Sample
		s.T = start + float64(lo)/1e9 + width
		if i < len(tlOK) {
			s.OK = float64(tlOK[i]) / width
		}
		if i < len(tlErr) {
			s.Errors = float64(tlErr[i]) / width
		}
		res.tl = append(res.tl, s)
	}
	rd := Round{Seconds: float64(win) / 1e9, Requests: ok, Errors: nerr,
		P50: us(lat.ValueAtQuantile(50)), P99: us(lat.ValueAtQuantile(99))}
	if win > 0 {
		rd.Throughput = float64(ok) / rd.Seconds
	}
	res.rounds = append(res.rounds, rd)

	c := &r.cpu
	gu, gs, wall := c.gu1-c.gu0, c.gs1-c.gs0, c.t1.Sub(c.t0)
	res.cpus, res.procs = c.cpus, runtime.GOMAXPROCS(0)
	if n := len(c.cpus); n > 0 && wall > 0 {
		res.saturated = max(res.saturated, float64(gu+gs)/float64(wall)/float64(n))
	}
	// CPU times are scaled from their sample intervals to the measured
	// window, so that per-request figures are rate over rate.
	scale := func(d, over time.Duration) time.Duration {
		if over <= 0 {
			return 0
		}
		return time.Duration(float64(d) * float64(win) / float64(over))
	}
	res.gu, res.gs, res.gwall = res.gu+scale(gu, wall), res.gs+scale(gs, wall), res.gwall+time.Duration(win)
	sw := c.st1.Sub(c.st0)
	res.su, res.ss = res.su+scale(c.su, sw), res.ss+scale(c.ss, sw)
	res.srvOK = res.srvOK && c.srvOK
	if c.srvErr != "" {
		res.srvErr = c.srvErr
	}
	res.cycU, res.cycK, res.cycOK = res.cycU+c.cycU, res.cycK+c.cycK, res.cycOK && c.cycOK
	for _, s := range c.shared {
		if !contains(res.shared, s) {
			res.shared = append(res.shared, s)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func us(ns int64) float64 { return math.Round(float64(ns)/10) / 100 }

func summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Count: h.TotalCount(),
		Mean:  math.Round(h.Mean()/10) / 100,
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P99:   us(h.ValueAtQuantile(99)),
		P999:  us(h.ValueAtQuantile(99.9)),
		Max:   us(h.Max()),
	}
}

// percentiles samples the latency curve evenly on the log scale of
// 1/(1-q) used by HdrHistogram plots, up to the max.
func percentiles(h *hdrhistogram.Histogram) []Point {
	if h.TotalCount() == 0 {
		return nil
	}
	var pts []Point
	limit := math.Log10(float64(h.TotalCount()))
	for x := 0.0; x <= min(limit, 6)+1e-9; x += 0.1 {
		q := 100 * (1 - math.Pow(10, -x))
		pts = append(pts, Point{Percentile: math.Round(q*1e4) / 1e4, Latency: us(h.ValueAtQuantile(q))})
	}
	return append(pts, Point{Percentile: 100, Latency: us(h.Max())})
}

func build(cfg *Config, started time.Time, res []*result, interrupted bool) *Report {
	rep := &Report{
		Schema:      Schema,
		Started:     started.UTC().Truncate(time.Second),
		Mode:        cfg.Mode,
		Transport:   "tcp",
		Load:        "closed",
		Unit:        "req",
		Interrupted: interrupted,
		Warnings:    []string{},
		Config: ConfigReport{
			Conns: cfg.Conns, Pipeline: cfg.Pipeline, Duration: cfg.Duration.Seconds(), Count: cfg.Count,
			Warmup: cfg.Warmup.Seconds(), Rate: cfg.Rate, Rounds: cfg.Rounds, Timeout: cfg.Timeout.Seconds(),
		},
	}
	if cfg.UDP {
		rep.Transport = "udp"
	}
	if cfg.Rate > 0 {
		rep.Load = "open"
	}
	switch cfg.Mode {
	case Echo:
		rep.Unit = "msg"
		rep.Config.Size = cfg.Size
	case HTTP:
		ka := !cfg.HTTP.NoKeepAlive
		rep.Config.KeepAlive = &ka
		rep.Config.Method = cfg.HTTP.Method
		rep.Config.Paths = cfg.HTTP.Paths
	}
	if len(res) > 0 {
		rep.Generator = GeneratorReport{CPUs: FormatCPUs(res[0].cpus), Cores: len(res[0].cpus), GOMAXPROCS: res[0].procs}
	}
	for i, r := range res {
		t := cfg.Targets[i]
		secs := float64(r.ns) / 1e9
		tr := TargetReport{
			Name: t.Name, Addr: t.Addr, PIDs: t.PIDs,
			Requests:    r.ok,
			ErrorKinds:  map[string]int64{},
			Seconds:     round3(secs),
			TargetRate:  cfg.Rate,
			Latency:     summarize(r.lat),
			Connect:     summarize(r.conn),
			Rounds:      r.rounds,
			Percentiles: percentiles(r.lat),
			Timeline:    r.tl,
		}
		for k := kind(1); k < numKinds; k++ {
			if n := r.errs[k]; n > 0 {
				tr.ErrorKinds[k.String()] = n
				tr.Errors += n
			}
		}
		tr.PerConn = spread(r.perConn)
		if secs > 0 {
			tr.Throughput = round3(float64(r.ok) / secs)
			tr.SendRate = round3(float64(r.sent) / secs)
		}
		if cfg.Rate > 0 {
			u, l := summarize(r.unc), summarize(r.lag)
			tr.Uncorrected, tr.Lag = &u, &l
			if secs > 0 && tr.SendRate < 0.95*cfg.Rate {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: sent %s/s of the %s/s asked for: the server (or the generator) could not keep up",
					t.Name, count(tr.SendRate), count(cfg.Rate)))
			}
		}
		if r.gwall > 0 {
			tr.Generator = CPUUse{User: round3(r.gu.Seconds()), Sys: round3(r.gs.Seconds()),
				Percent: round1(100 * (r.gu + r.gs).Seconds() / r.gwall.Seconds() / float64(max(len(r.cpus), 1)))}
		}
		if len(t.PIDs) > 0 {
			if !r.srvOK {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: no server CPU figures: %s", t.Name, r.srvErr))
			} else {
				sc := &ServerCPU{User: round3(r.su.Seconds()), Sys: round3(r.ss.Seconds())}
				if r.ok > 0 {
					sc.UserPer = round3(float64(r.su.Microseconds()) / float64(r.ok))
					sc.SysPer = round3(float64(r.ss.Microseconds()) / float64(r.ok))
				}
				if secs > 0 {
					sc.Percent = round1(100 * (r.su + r.ss).Seconds() / secs)
				}
				if r.cycOK && r.ok > 0 && r.cycU+r.cycK > 0 {
					cu, ck := round1(float64(r.cycU)/float64(r.ok)), round1(float64(r.cycK)/float64(r.ok))
					sc.CyclesUser, sc.CyclesKernel = &cu, &ck
				}
				tr.Server = sc
			}
		}
		if r.saturated > 0.9 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: the generator used %.0f%% of its %d allowed CPU(s): it may be the bottleneck; give it more CPUs (--cpus) or fewer connections",
				t.Name, 100*r.saturated, len(r.cpus)))
		}
		rep.Warnings = append(rep.Warnings, r.shared...)
		if tr.Errors > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: %d %ss failed", t.Name, tr.Errors, rep.Unit))
		}
		if n := tr.ErrorKinds[kindUnanswered.String()]; n > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: %d %ss were never answered: owed when the run ended, and not answered within --timeout (%s)",
				t.Name, n, rep.Unit, fmtDur(cfg.Timeout.Seconds())))
		}
		if p := tr.PerConn; p.Starved > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: %d of %d connections starved, with under a tenth of the median's %ss or none (per connection: min %s, median %s, max %s): the server does not serve its connections fairly",
				t.Name, p.Starved, p.Connections, rep.Unit, count(float64(p.Min)), count(float64(p.Median)), count(float64(p.Max))))
		}
		rep.Targets = append(rep.Targets, tr)
	}
	rep.Ratios = ratios(rep.Targets)
	if interrupted {
		rep.Warnings = append(rep.Warnings, "interrupted: the report covers the part measured")
	}
	return rep
}

// ratios compares every target with the first.
func ratios(ts []TargetReport) []Ratio {
	if len(ts) < 2 {
		return nil
	}
	b := ts[0]
	var out []Ratio
	for _, t := range ts[1:] {
		// Latencies and CPU per request exist only where good replies
		// were counted; throughput only needs the base's.
		both := t.Requests > 0 && b.Requests > 0
		ra := Ratio{Target: t.Name, Base: b.Name,
			Throughput: ratio(t.Throughput, b.Throughput, b.Requests > 0),
			P50:        ratio(t.Latency.P50, b.Latency.P50, both),
			P99:        ratio(t.Latency.P99, b.Latency.P99, both)}
		if t.Server != nil && b.Server != nil {
			ra.ServerCPU = ratio(t.Server.UserPer+t.Server.SysPer, b.Server.UserPer+b.Server.SysPer, both)
		}
		out = append(out, ra)
	}
	return out
}

// ratio is a/b, or nil (n/a) when !ok or b is 0.
func ratio(a, b float64, ok bool) *float64 {
	if !ok || b == 0 {
		return nil
	}
	v := round3(a / b)
	return &v
}

// fmtRatio writes a ratio as 1.23×, or n/a.
func fmtRatio(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", *v)
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// Failed is the number of requests that failed a check, over all targets.
func (r *Report) Failed() int64 {
	var n int64
	for _, t := range r.Targets {
		n += t.Errors
	}
	return n
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteText writes the summary people read.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "portside bench %s over %s: %d connections, pipeline %d, %s loop", r.Mode, r.Transport, c.Conns, c.Pipeline, r.Load)
	if r.Load == "open" {
		fmt.Fprintf(&b, " at %s %s/s", count(c.Rate), r.Unit)
	}
	if c.Size > 0 {
		fmt.Fprintf(&b, ", %d-byte messages", c.Size)
	}
	if c.KeepAlive != nil && !*c.KeepAlive {
		b.WriteString(", keep-alive off")
	}
	fmt.Fprintf(&b, "\n%d round(s) of %s", c.Rounds, fmtDur(c.Duration))
	if c.Count > 0 {
		fmt.Fprintf(&b, " or %d %ss", c.Count, r.Unit)
	}
	fmt.Fprintf(&b, " per target, after %s warm-up; generator on CPU %s\n\n", fmtDur(c.Warmup), r.Generator.CPUs)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "target\t%ss\t%s/s\tp50\tp90\tp99\tp99.9\tmax\terrors\tgen cpu\t\n", r.Unit, r.Unit)
	for _, t := range r.Targets {
		l := t.Latency
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%.0f%%\t\n", t.Name, t.Requests, count(t.Throughput),
			fmtUS(l.P50), fmtUS(l.P90), fmtUS(l.P99), fmtUS(l.P999), fmtUS(l.Max), t.Errors, t.Generator.Percent)
	}
	tw.Flush()
	b.WriteString("\n")
	for _, t := range r.Targets {
		if t.Name == t.Addr {
			fmt.Fprintf(&b, "%s\n", t.Name)
		} else {
			fmt.Fprintf(&b, "%s (%s)\n", t.Name, t.Addr)
		}
		if r.Load == "open" && t.Uncorrected != nil {
			fmt.Fprintf(&b, "  rate        asked %s/s, sent %s/s, answered %s/s\n", count(t.TargetRate), count(t.SendRate), count(t.Throughput))
			fmt.Fprintf(&b, "  latency     from intended send (corrected): p50 %s  p99 %s  max %s\n", fmtUS(t.Latency.P50), fmtUS(t.Latency.P99), fmtUS(t.Latency.Max))
			fmt.Fprintf(&b, "              from actual send (uncorrected): p50 %s  p99 %s  max %s\n", fmtUS(t.Uncorrected.P50), fmtUS(t.Uncorrected.P99), fmtUS(t.Uncorrected.Max))
			fmt.Fprintf(&b, "  lag         behind schedule: p50 %s  p99 %s  max %s\n", fmtUS(t.Lag.P50), fmtUS(t.Lag.P99), fmtUS(t.Lag.Max))
		}
		fmt.Fprintf(&b, "  connect     %d: p50 %s  p99 %s  max %s\n", t.Connect.Count, fmtUS(t.Connect.P50), fmtUS(t.Connect.P99), fmtUS(t.Connect.Max))
		if p := t.PerConn; p.Connections > 0 {
			fmt.Fprintf(&b, "  per conn    %ss: min %s  median %s  max %s", r.Unit, count(float64(p.Min)), count(float64(p.Median)), count(float64(p.Max)))
			if p.Starved > 0 {
				fmt.Fprintf(&b, "  (%d of %d starved)", p.Starved, p.Connections)
			}
			b.WriteString("\n")
		}
		if t.Errors > 0 {
			var parts []string
			for k := kind(1); k < numKinds; k++ {
				if n := t.ErrorKinds[k.String()]; n > 0 {
					parts = append(parts, fmt.Sprintf("%s %d", k, n))
				}
			}
			fmt.Fprintf(&b, "  errors      %s\n", strings.Join(parts, ", "))
		}
		if s := t.Server; s != nil {
			fmt.Fprintf(&b, "  server cpu  %.2f µs user + %.2f µs sys per %s (%.0f%% of a core)", s.UserPer, s.SysPer, r.Unit, s.Percent)
			if s.CyclesUser != nil {
				fmt.Fprintf(&b, "; %s user + %s kernel cycles per %s", count(*s.CyclesUser), count(*s.CyclesKernel), r.Unit)
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "  generator   %.2fs user + %.2fs sys (%.0f%% of %d CPU)\n", t.Generator.User, t.Generator.Sys, t.Generator.Percent, r.Generator.Cores)
		if len(t.Rounds) > 1 {
			var parts []string
			for _, rd := range t.Rounds {
				parts = append(parts, count(rd.Throughput))
			}
			fmt.Fprintf(&b, "  rounds      %s %s/s\n", strings.Join(parts, ", "), r.Unit)
		}
	}
	if len(r.Ratios) > 0 {
		fmt.Fprintf(&b, "\nagainst %s\n", r.Ratios[0].Base)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "target\t%s/s\tp50\tp99\tserver cpu/%s\t\n", r.Unit, r.Unit)
		for _, ra := range r.Ratios {
			cpu := "-" // a target without server figures
			for _, t := range r.Targets[1:] {
				if t.Name == ra.Target && t.Server != nil && r.Targets[0].Server != nil {
					cpu = fmtRatio(ra.ServerCPU)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", ra.Target, fmtRatio(ra.Throughput), fmtRatio(ra.P50), fmtRatio(ra.P99), cpu)
		}
		tw.Flush()
	}
	if len(r.Warnings) > 0 {
		b.WriteString("\n")
		for _, w := range r.Warnings {
			fmt.Fprintf(&b, "warning: %s\n", w)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// count formats a number with thousands separators, dropping fractions.
func count(f float64) string {
	n := int64(math.Round(f))
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, c)
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func fmtUS(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 1000:
		return fmt.Sprintf("%.0fµs", v)
	case v < 10e3:
		return fmt.Sprintf("%.2fms", v/1e3)
	case v < 1e6:
		return fmt.Sprintf("%.1fms", v/1e3)
	}
	return fmt.Sprintf("%.2fs", v/1e6)
}

func fmtDur(s float64) string { return time.Duration(s * float64(time.Second)).String() }
