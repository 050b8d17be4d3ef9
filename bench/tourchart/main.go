// Command tourchart draws the engines' tour from the files bench/tour.sh
// writes: the server CPU per message against the idle connections beside
// 50 active ones, one line per engine, as a hand-written SVG, and the table
// of docs/engines.md (markdown, on standard output). Usage:
//
//	go run ./bench/tourchart [-svg docs/engines-tour.svg] [-title ...] bench/tourdata
//
// The directory holds:
//
//	L<idle>.json        portside bench echo --json, 50 connections, one target per engine
//	L<idle>-c<n>.json   the same with n connections: the iterative engine's one, and the
//	                    others' beside it for scale (a column of the table; drawn only for
//	                    an engine with no 50-connection figures)
//	idle-L<idle>-<engine>.json   bench/idleconns -json: the idle connections really held
//	                             (a capped engine holds fewer) and their memory
//	connect-<engine>.json        bench/connlat -json: one connection's setup
//	load.txt            the load average when each level was measured
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/portside/portside/bench"
)

// point is one engine measured at one level.
type point struct {
	level      int // the idle connections asked for
	idle       int // those held (fewer where the engine is capped)
	active     int
	user, sys  float64 // server CPU per message, µs
	cpuOK      bool
	rate       float64 // good messages per second
	p50        float64 // µs
	starved    int
	unanswered int64
}

// idleMem is bench/idleconns' result, as much of it as the tour uses.
type idleMem struct {
	Connections    int   `json:"connections"`
	RSSPerConn     int64 `json:"rss_bytes_per_conn"`
	PrivatePerConn int64 `json:"tree_private_bytes_per_conn"`
	After          struct {
		Processes int `json:"processes"`
	} `json:"after"`
}

// perConn is the memory an idle connection costs: the server's RSS, or for
// a process tree (a child per connection) the tree's private memory.
func (m idleMem) perConn() int64 {
	if m.After.Processes > 1 {
		return m.PrivatePerConn
	}
	return m.RSSPerConn
}

// connect is bench/connlat's result.
type connect struct {
	Connections int     `json:"connections"`
	P50         float64 `json:"p50_us"`
	P99         float64 `json:"p99_us"`
}

// runKey names a run other than 50 connections: its idle level and its
// active connections.
type runKey struct{ level, active int }

// tour is everything measured, by engine.
type tour struct {
	engines []string           // in tour order
	points  map[string][]point // 50 active connections, by idle held
	others  map[runKey]map[string]point
	keys    []runKey
	mem     map[string]map[int]idleMem // engine → idle held → memory
	conn    map[string]connect
	levels  []int
	load    []string
}

// order puts the classic engines in the order the guides take them; any
// other (a newer engine) follows, by name.
var order = []string{"iterative", "fork", "goroutine", "select", "poll", "epoll"}

func rank(e string) int {
	if i := slices.Index(order, e); i >= 0 {
		return i
	}
	return len(order)
}

var (
	benchFile   = regexp.MustCompile(`^L(\d+)(?:-c(\d+))?\.json$`)
	idleFile    = regexp.MustCompile(`^idle-L(\d+)-(.+)\.json$`)
	connectFile = regexp.MustCompile(`^connect-(.+)\.json$`)
)

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// load reads a directory bench/tour.sh wrote.
func load(dir string) (*tour, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	t := &tour{points: map[string][]point{}, others: map[runKey]map[string]point{}, mem: map[string]map[int]idleMem{}, conn: map[string]connect{}}
	held := map[string]int{} // "engine/level" → idle held
	for _, e := range ents {
		if m := idleFile.FindStringSubmatch(e.Name()); m != nil {
			var im idleMem
			if err := readJSON(filepath.Join(dir, e.Name()), &im); err != nil {
				return nil, err
			}
			if t.mem[m[2]] == nil {
				t.mem[m[2]] = map[int]idleMem{}
			}
			t.mem[m[2]][im.Connections] = im
			held[m[2]+"/"+m[1]] = im.Connections
		}
		if m := connectFile.FindStringSubmatch(e.Name()); m != nil {
			var c connect
			if err := readJSON(filepath.Join(dir, e.Name()), &c); err != nil {
				return nil, err
			}
			t.conn[m[1]] = c
		}
	}
	for _, e := range ents {
		m := benchFile.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		var r bench.Report
		if err := readJSON(filepath.Join(dir, e.Name()), &r); err != nil {
			return nil, err
		}
		if r.Schema != bench.Schema || r.Mode != bench.Echo {
			return nil, fmt.Errorf("%s: not a portside bench echo report (%s, %s)", e.Name(), r.Schema, r.Mode)
		}
		level, _ := strconv.Atoi(m[1])
		key := runKey{level, r.Config.Conns}
		if m[2] == "" && !slices.Contains(t.levels, level) {
			t.levels = append(t.levels, level)
		}
		if m[2] != "" && t.others[key] == nil {
			t.others[key] = map[string]point{}
			t.keys = append(t.keys, key)
		}
		for _, tr := range r.Targets {
			idle, ok := held[tr.Name+"/"+m[1]]
			if !ok && level > 0 {
				return nil, fmt.Errorf("%s: %s measured beside %d idle connections, but no idle-L%d-%s.json says how many it held", e.Name(), tr.Name, level, level, tr.Name)
			}
			p := point{level: level, idle: idle, active: r.Config.Conns, rate: tr.Throughput, p50: tr.Latency.P50,
				starved: tr.PerConn.Starved, unanswered: tr.ErrorKinds["unanswered"]}
			if tr.Server != nil && tr.Requests > 0 {
				p.user, p.sys, p.cpuOK = tr.Server.UserPer, tr.Server.SysPer, true
			}
			if !slices.Contains(t.engines, tr.Name) {
				t.engines = append(t.engines, tr.Name)
			}
			if m[2] == "" {
				t.points[tr.Name] = append(t.points[tr.Name], p)
			} else {
				t.others[key][tr.Name] = p
			}
		}
	}
	if len(t.engines) == 0 {
		return nil, fmt.Errorf("%s: no L<idle>.json reports of portside bench", dir)
	}
	slices.Sort(t.levels)
	slices.SortFunc(t.keys, func(a, b runKey) int {
		if a.level != b.level {
			return a.level - b.level
		}
		return a.active - b.active
	})
	slices.SortStableFunc(t.engines, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	for _, ps := range t.points {
		slices.SortFunc(ps, func(a, b point) int { return a.idle - b.idle })
	}
	if b, err := os.ReadFile(filepath.Join(dir, "load.txt")); err == nil {
		t.load = strings.Fields(strings.ReplaceAll(string(b), "\n", " "))
	}
	return t, nil
}

// loadRange is the lowest and highest one-minute load average load.txt
// recorded ("2026-…Z level 0: 5.1 6.2 7.0" lines).
func (t *tour) loadRange() (lo, hi float64, ok bool) {
	for i := 0; i+1 < len(t.load); i++ {
		if !strings.HasSuffix(t.load[i], ":") {
			continue
		}
		v, err := strconv.ParseFloat(t.load[i+1], 64)
		if err != nil {
			continue
		}
		if !ok || v < lo {
			lo = v
		}
		if !ok || v > hi {
			hi = v
		}
		ok = true
	}
	return lo, hi, ok
}

// count writes 10000 as 10,000.
func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func rate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.0fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

func bytesPer(b int64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 10<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return count(int(b)) + " B"
}

func latency(us float64) string {
	if us >= 1000 {
		return fmt.Sprintf("%.1f ms", us/1000)
	}
	return fmt.Sprintf("%.0f µs", us)
}

// cell is a point in the table: CPU per message, user + system, and
// msg/s, with what differs from the column's heading.
func (p point) cell(active int) string {
	cpu := "n/a"
	if p.cpuOK {
		cpu = fmt.Sprintf("%.2f + %.1f µs", p.user, p.sys)
	}
	cell := cpu + ", " + rate(p.rate)
	var notes []string
	if p.idle != p.level {
		notes = append(notes, "at "+count(p.idle)+" idle")
	}
	if p.active != active {
		notes = append(notes, count(p.active)+" active")
	}
	if p.starved > 0 {
		notes = append(notes, count(p.starved)+" starved")
	}
	if p.unanswered > 0 {
		notes = append(notes, count(int(p.unanswered))+" unanswered")
	}
	if len(notes) > 0 {
		cell += " (" + strings.Join(notes, ", ") + ")"
	}
	return cell
}

// table writes the tour's table in markdown.
func (t *tour) table(w io.Writer) {
	head := []string{"engine"}
	for _, l := range t.levels {
		head = append(head, count(l)+" idle: CPU/msg, msg/s")
	}
	for _, k := range t.keys {
		head = append(head, fmt.Sprintf("%s active, %s idle", count(k.active), count(k.level)))
	}
	head = append(head, "memory per idle conn", "setup p50 (p99)")
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	for _, e := range t.engines {
		row := []string{e}
		for _, l := range t.levels {
			cell := "—"
			for _, p := range t.points[e] {
				if p.level == l {
					cell = p.cell(50)
				}
			}
			row = append(row, cell)
		}
		for _, k := range t.keys {
			cell := "—"
			if p, ok := t.others[k][e]; ok {
				cell = p.cell(k.active)
			}
			row = append(row, cell)
		}
		mem := "—"
		if ms := t.mem[e]; len(ms) > 0 {
			most := 0
			for n := range ms {
				most = max(most, n)
			}
			mem = bytesPer(ms[most].perConn()) + " (of " + count(most) + ")"
		}
		setup := "—"
		if c, ok := t.conn[e]; ok && c.Connections > 0 {
			setup = latency(c.P50) + " (" + latency(c.P99) + ")"
		}
		row = append(row, mem, setup)
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
}

// The chart's frame, in SVG user units.
const (
	width, height            = 760, 440
	left, right, top, bottom = 70, 150, 48, 60
)

var colours = []string{"#8c564b", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#1f77b4", "#17becf", "#e377c2", "#7f7f7f", "#bcbd22"}

func esc(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}

// niceStep is a round tick step that gives about n ticks up to hi.
func niceStep(hi float64, n int) float64 {
	raw := hi / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// svg draws CPU per message (user + system) against idle connections: x on a
// log scale, none drawn one decade left of the lowest decade, past a break.
func (t *tour) svg(w io.Writer, title string) error {
	maxIdle, maxCPU := 10, 0.0
	// 50 active connections; an engine with none of those (iterative) at
	// what it was measured with.
	drawn := maps.Clone(t.points)
	for _, k := range t.keys {
		for e, p := range t.others[k] {
			if len(t.points[e]) == 0 {
				drawn[e] = append(drawn[e], p)
			}
		}
	}
	for _, ps := range drawn {
		for _, p := range ps {
			maxIdle = max(maxIdle, p.idle)
			if p.cpuOK {
				maxCPU = max(maxCPU, p.user+p.sys)
			}
		}
	}
	minDec := math.MaxInt
	for _, ps := range drawn {
		for _, p := range ps {
			if p.idle > 0 {
				minDec = min(minDec, int(math.Floor(math.Log10(float64(p.idle)))))
			}
		}
	}
	if minDec == math.MaxInt {
		minDec = 2
	}
	zeroDec := float64(minDec - 1) // where "none" sits
	maxDec := math.Ceil(math.Log10(float64(maxIdle)))
	if maxDec <= float64(minDec) {
		maxDec = float64(minDec + 1)
	}
	const pad = 16 // none sits this far right of the y axis
	pw, ph := float64(width-left-right-pad), float64(height-top-bottom)
	xOf := func(idle int) float64 {
		d := zeroDec
		if idle > 0 {
			d = math.Log10(float64(idle))
		}
		return float64(left+pad) + (d-zeroDec)/(maxDec-zeroDec)*pw
	}
	if maxCPU <= 0 {
		maxCPU = 1
	}
	step := niceStep(maxCPU, 6)
	yMax := math.Ceil(maxCPU/step) * step
	yOf := func(v float64) float64 { return float64(top) + ph - v/yMax*ph }

	var b strings.Builder
	f := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	f(`<rect width="%d" height="%d" fill="#fff"/>`+"\n", width, height)
	f(`<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(title))
	// Axes, grid and ticks.
	for v := 0.0; v <= yMax+step/2; v += step {
		y := yOf(v)
		f(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, width-right, y)
		f(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, strconv.FormatFloat(v, 'f', -1, 64))
	}
	for d := minDec; float64(d) <= maxDec; d++ {
		x := xOf(int(math.Pow(10, float64(d))))
		f(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, top, x, height-bottom)
		f(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, height-bottom+18, count(int(math.Pow(10, float64(d)))))
		for k := 2; k < 10 && float64(d) < maxDec; k++ {
			xm := xOf(k * int(math.Pow(10, float64(d))))
			f(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999"/>`+"\n", xm, height-bottom, xm, height-bottom+4)
		}
	}
	x0 := xOf(0)
	f(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x0, top, x0, height-bottom)
	f(`<text x="%.1f" y="%d" text-anchor="middle">0</text>`+"\n", x0, height-bottom+18)
	f(`<path d="M%d %d V%d H%d" fill="none" stroke="#000"/>`+"\n", left, top, height-bottom, width-right)
	// The break between none and the first decade.
	xb := (x0 + xOf(int(math.Pow(10, float64(minDec))))) / 2
	f(`<path d="M%.1f %d l4 -8 M%.1f %d l4 -8" stroke="#000"/>`+"\n", xb-4, height-bottom+4, xb, height-bottom+4)
	f(`<text x="%.1f" y="%d" text-anchor="middle">idle connections beside 50 active (log scale)</text>`+"\n", float64(left)+pw/2, height-bottom+40)
	f(`<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">server CPU per message, user + system (µs)</text>`+"\n", float64(top)+ph/2)
	// One line per engine, named at its right end.
	type label struct {
		y    float64
		name string
		col  string
	}
	var labels []label
	for i, e := range t.engines {
		col := colours[(rank(e)+max(0, i-len(order)))%len(colours)]
		var pts []string
		var last point
		for _, p := range drawn[e] {
			if !p.cpuOK {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(p.idle), yOf(p.user+p.sys)))
			last = p
		}
		if len(pts) == 0 {
			continue
		}
		f(`<g stroke="%s" fill="%s"><title>%s</title>`+"\n", col, col, esc(e))
		if len(pts) > 1 {
			f(`<polyline points="%s" fill="none" stroke-width="2"/>`+"\n", strings.Join(pts, " "))
		}
		// An engine drawn at other than 50 active connections is a ring,
		// so that it shows beside a line's point at the same place.
		mark := `r="3.5"`
		if len(t.points[e]) == 0 {
			mark = `r="6" fill="none" stroke-width="2"`
		}
		for _, p := range pts {
			x, y, _ := strings.Cut(p, ",")
			f(`<circle cx="%s" cy="%s" %s/>`+"\n", x, y, mark)
		}
		f("</g>\n")
		name := e
		if last.active != 50 {
			name += fmt.Sprintf(" (%d active)", last.active)
		}
		if last.idle != last.level && last.level > 0 {
			name += " (" + count(last.idle) + ")"
		}
		labels = append(labels, label{yOf(last.user + last.sys), name, col})
	}
	// Legend on the right, in the order of the lines' ends, spread apart.
	slices.SortStableFunc(labels, func(a, b label) int { return int(a.y - b.y) })
	y := float64(top)
	for _, l := range labels {
		y = max(y+15, l.y+4)
		f(`<text x="%d" y="%.1f" fill="%s">%s</text>`+"\n", width-right+10, y, l.col, esc(l.name))
	}
	if lo, hi, ok := t.loadRange(); ok {
		f(`<text x="%d" y="%d" font-size="10" fill="#555">load average %.1f–%.1f on 2 cores while measured: read the shape, not the digits</text>`+"\n", left, height-6, lo, hi)
	}
	f("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func main() {
	out := flag.String("svg", "docs/engines-tour.svg", "write the chart to this file")
	title := flag.String("title", "Echo server CPU per message, 50 connections ping-pong", "the chart's title")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: tourchart [-svg file] DIR (written by bench/tour.sh)")
		os.Exit(2)
	}
	t, err := load(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "tourchart:", err)
		os.Exit(1)
	}
	f, err := os.Create(*out)
	if err == nil {
		err = t.svg(f, *title)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tourchart:", err)
		os.Exit(1)
	}
	t.table(os.Stdout)
}
