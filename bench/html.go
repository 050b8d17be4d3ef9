package bench

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// WriteHTML writes a self-contained report: tables, and charts drawn as
// inline SVG, with no script and nothing fetched, so it opens offline and
// can be mailed or archived as one file. The JSON report is embedded too.
func (r *Report) WriteHTML(w io.Writer) error {
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		return err
	}
	var text strings.Builder
	r.WriteText(&text)
	data := struct {
		R          *Report
		Title      string
		Latency    template.HTML
		Throughput template.HTML
		JSON       template.JS
		Colors     []string
	}{
		R:          r,
		Title:      fmt.Sprintf("portside bench %s: %s", r.Mode, targetNames(r)),
		Latency:    latencyChart(r),
		Throughput: throughputChart(r),
		// The JSON sits in a script element of type application/json:
		// "</" must not end it early.
		JSON:   template.JS(strings.ReplaceAll(js.String(), "</", `<\/`)),
		Colors: palette,
	}
	return reportPage.Execute(w, data)
}

func targetNames(r *Report) string {
	var names []string
	for _, t := range r.Targets {
		names = append(names, t.Name)
	}
	return strings.Join(names, " vs ")
}

var palette = []string{"#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"}

func color(i int) string { return palette[i%len(palette)] }

type series struct {
	name   string
	color  string
	dashed bool
	pts    [][2]float64 // in chart space
}

type tick struct {
	at    float64
	label string
}

// chart draws lines in an SVG. Coordinates arrive already transformed
// (logarithms taken), with ticks in the same space.
type chart struct {
	title, xLabel, yLabel  string
	x0, x1, y0, y1         float64
	xTicks, yTicks         []tick
	lines                  []series
	w, h, left, right, top float64
	bottom                 float64
}

func (c *chart) svg() template.HTML {
	c.w, c.h, c.left, c.right, c.top, c.bottom = 760, 340, 70, 40, 36, 56
	pw, ph := c.w-c.left-c.right, c.h-c.top-c.bottom
	px := func(x float64) float64 {
		if c.x1 == c.x0 {
			return c.left
		}
		return c.left + (x-c.x0)/(c.x1-c.x0)*pw
	}
	py := func(y float64) float64 {
		if c.y1 == c.y0 {
			return c.top + ph
		}
		return c.top + ph - (y-c.y0)/(c.y1-c.y0)*ph
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`, c.w, c.h, template.HTMLEscapeString(c.title))
	fmt.Fprintf(&b, `<text x="%.0f" y="20" class="ct">%s</text>`, c.left, template.HTMLEscapeString(c.title))
	for _, t := range c.yTicks {
		y := py(t.at)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="grid"/>`, c.left, c.left+pw, y, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="yt">%s</text>`, c.left-6, y+4, t.label)
	}
	for _, t := range c.xTicks {
		x := px(t.at)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="grid"/>`, x, x, c.top, c.top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="xt">%s</text>`, x, c.top+ph+16, t.label)
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="frame"/>`, c.left, c.top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="xl">%s</text>`, c.left+pw/2, c.h-12, c.xLabel)
	fmt.Fprintf(&b, `<text transform="translate(16 %.1f) rotate(-90)" class="xl">%s</text>`, c.top+ph/2, c.yLabel)
	for _, s := range c.lines {
		if len(s.pts) == 0 {
			continue
		}
		var pts []string
		for _, p := range s.pts {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p[0]), py(min(max(p[1], c.y0), c.y1))))
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s><title>%s</title></polyline>`,
			strings.Join(pts, " "), s.color, dash, template.HTMLEscapeString(s.name))
	}
	// Legend, top left inside the plot.
	for i, s := range c.lines {
		y := c.top + 14 + float64(i)*16
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`, c.left+10, c.left+32, y, y, s.color, dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="lg">%s</text>`, c.left+38, y+4, template.HTMLEscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// latencyChart plots latency against percentile, both on log scales: the
// x axis spreads the tail (90%, 99%, 99.9%...) evenly, as HdrHistogram
// plots do.
func latencyChart(r *Report) template.HTML {
	c := &chart{title: "Latency by percentile", xLabel: "percentile", yLabel: "latency (log scale)"}
	lo, hi := math.Inf(1), math.Inf(-1)
	xmax := 1.0
	qx := func(p float64) float64 {
		if p >= 100 {
			return -1
		}
		return math.Log10(100 / (100 - p))
	}
	for i, t := range r.Targets {
		s := series{name: t.Name, color: color(i)}
		last := 0.0
		for _, p := range t.Percentiles {
			if p.Latency <= 0 {
				continue
			}
			x := qx(p.Percentile)
			if x < 0 {
				x = last + 0.3 // the max, just right of the last point
			}
			last = x
			xmax = max(xmax, x)
			lo, hi = min(lo, p.Latency), max(hi, p.Latency)
			s.pts = append(s.pts, [2]float64{x, math.Log10(p.Latency)})
		}
		c.lines = append(c.lines, s)
		if t.Uncorrected != nil && len(r.Targets) == 1 {
			// Open loop: show what an uncorrected tool would report.
			u := series{name: t.Name + " (uncorrected)", color: color(i), dashed: true}
			for _, p := range []struct{ p, v float64 }{{50, t.Uncorrected.P50}, {90, t.Uncorrected.P90}, {99, t.Uncorrected.P99}, {99.9, t.Uncorrected.P999}} {
				if p.v > 0 {
					u.pts = append(u.pts, [2]float64{qx(p.p), math.Log10(p.v)})
					lo, hi = min(lo, p.v), max(hi, p.v)
				}
			}
			c.lines = append(c.lines, u)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 1000
	}
	c.x0, c.x1 = 0, math.Ceil(xmax)
	c.y0, c.y1 = math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if c.y1 == c.y0 {
		c.y1++
	}
	names := []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "99.99999%"}
	for x := 0; float64(x) <= c.x1 && x < len(names); x++ {
		c.xTicks = append(c.xTicks, tick{float64(x), names[x]})
	}
	for y := c.y0; y <= c.y1; y++ {
		c.yTicks = append(c.yTicks, tick{y, fmtUS(math.Pow(10, y))})
	}
	return c.svg()
}

// throughputChart plots good replies (and errors, if any) per second over
// the measured time.
func throughputChart(r *Report) template.HTML {
	c := &chart{title: "Throughput over time", xLabel: "seconds measured (rounds end to end)", yLabel: r.Unit + "s per second"}
	hi, tmax := 0.0, 0.0
	for i, t := range r.Targets {
		s := series{name: t.Name, color: color(i)}
		e := series{name: t.Name + " errors", color: color(i), dashed: true}
		anyErr := false
		for _, p := range t.Timeline {
			s.pts = append(s.pts, [2]float64{p.T, p.OK})
			e.pts = append(e.pts, [2]float64{p.T, p.Errors})
			anyErr = anyErr || p.Errors > 0
			hi, tmax = max(hi, p.OK, p.Errors), max(tmax, p.T)
		}
		c.lines = append(c.lines, s)
		if anyErr {
			c.lines = append(c.lines, e)
		}
	}
	if hi == 0 {
		hi = 1
	}
	c.x0, c.x1 = 0, max(tmax, 1)
	step := niceStep(hi * 1.1 / 5)
	c.y0, c.y1 = 0, math.Ceil(hi*1.1/step)*step
	for y := 0.0; y <= c.y1+step/2; y += step {
		c.yTicks = append(c.yTicks, tick{y, count(y)})
	}
	xs := niceStep(c.x1 / 8)
	for x := 0.0; x <= c.x1+xs/100; x += xs {
		c.xTicks = append(c.xTicks, tick{x, fmt.Sprintf("%g", math.Round(x*100)/100)})
	}
	return c.svg()
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"us":    fmtUS,
	"count": count,
	"color": color,
	"pct":   func(f float64) string { return fmt.Sprintf("%.0f%%", f) },
	"f2":    func(f float64) string { return fmt.Sprintf("%.2f", f) },
	"x2":    fmtRatio,
	"dur":   fmtDur,
	"n":     func(v int64) string { return count(float64(v)) },
	"deref": func(p *float64) float64 { return *p },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;margin:0;background:#f8fafc}
main{max-width:980px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#4b5563;margin:0 0 16px}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0001;margin:8px 0}
th,td{padding:6px 12px;border-bottom:1px solid #e5e7eb;text-align:right;font-variant-numeric:tabular-nums}
th{background:#f1f5f9;font-weight:600}td:first-child,th:first-child{text-align:left;white-space:nowrap}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.warn{background:#fef3c7;border-left:4px solid #d97706;padding:8px 12px;margin:12px 0}
.bad{color:#b91c1c;font-weight:600}
figure{background:#fff;box-shadow:0 1px 2px #0001;margin:12px 0;padding:8px}
svg{width:100%;height:auto;display:block}
svg text{font:12px system-ui,sans-serif;fill:#374151}
svg .ct{font-size:14px;font-weight:600}svg .yt{text-anchor:end}svg .xt,svg .xl{text-anchor:middle}
svg .grid{stroke:#e5e7eb}svg .frame{fill:none;stroke:#9ca3af}
details{margin:8px 0}code{background:#eef2f7;padding:1px 4px;border-radius:3px}
footer{color:#6b7280;font-size:13px;margin-top:32px}
</style></head>
<body><main>
<h1>{{.Title}}</h1>
{{with .R}}{{$u := .Unit}}
<p class="sub">{{.Mode}} over {{.Transport}} · {{.Config.Conns}} connections · pipeline {{.Config.Pipeline}} · {{.Load}} loop{{if eq .Load "open"}} at {{count .Config.Rate}} {{$u}}/s{{end}}{{if .Config.Size}} · {{.Config.Size}}-byte messages{{end}}{{with .Config.KeepAlive}}{{if not .}} · keep-alive off{{end}}{{end}}
· {{.Config.Rounds}} round(s) of {{dur .Config.Duration}} after {{dur .Config.Warmup}} warm-up · generator on CPU {{.Generator.CPUs}} · {{.Started.Format "2006-01-02 15:04 UTC"}}</p>
{{if .Interrupted}}<div class="warn">Interrupted: this report covers only the part measured.</div>{{end}}
{{range .Warnings}}<div class="warn">{{.}}</div>{{end}}

<h2>Summary</h2>
<table><tr><th>target</th><th>{{$u}}/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>errors</th><th>server CPU µs/{{$u}} (user+sys)</th><th>generator CPU</th></tr>
{{range $i, $t := .Targets}}<tr><td><span class="sw" style="background:{{color $i}}"></span>{{$t.Name}}</td><td>{{count $t.Throughput}}</td>
<td>{{us $t.Latency.P50}}</td><td>{{us $t.Latency.P90}}</td><td>{{us $t.Latency.P99}}</td><td>{{us $t.Latency.P999}}</td><td>{{us $t.Latency.Max}}</td>
<td{{if $t.Errors}} class="bad"{{end}}>{{$t.Errors}}</td><td>{{with $t.Server}}{{f2 .UserPer}} + {{f2 .SysPer}}{{else}}-{{end}}</td><td>{{pct $t.Generator.Percent}}</td></tr>
{{end}}</table>
{{if .Ratios}}
<h2>Against {{(index .Ratios 0).Base}}</h2>
<table><tr><th>target</th><th>{{$u}}/s</th><th>p50</th><th>p99</th><th>server CPU per {{$u}}</th></tr>
{{range .Ratios}}<tr><td>{{.Target}}</td><td>{{x2 .Throughput}}</td><td>{{x2 .P50}}</td><td>{{x2 .P99}}</td><td>{{if .ServerCPU}}{{x2 .ServerCPU}}{{else}}-{{end}}</td></tr>
{{end}}</table>{{end}}
{{end}}
<figure>{{.Latency}}</figure>
<figure>{{.Throughput}}</figure>
{{with .R}}{{$u := .Unit}}
<h2>Details</h2>
{{range $i, $t := .Targets}}
<details open><summary><b>{{$t.Name}}</b>{{if ne $t.Name $t.Addr}} <code>{{$t.Addr}}</code>{{end}}{{with $t.PIDs}} · server pid{{range .}} {{.}}{{end}}{{end}}</summary>
<table>
<tr><td>{{$u}}s answered and checked</td><td>{{n $t.Requests}} in {{f2 $t.Seconds}} s</td></tr>
<tr><td>errors</td><td{{if $t.Errors}} class="bad"{{end}}>{{n $t.Errors}}{{range $k, $v := $t.ErrorKinds}} · {{$k}} {{$v}}{{end}}</td></tr>
{{with $t.Uncorrected}}<tr><td>rate asked / sent / answered</td><td>{{count $t.TargetRate}} / {{count $t.SendRate}} / {{count $t.Throughput}} per s</td></tr>
<tr><td>latency from intended send (corrected)</td><td>p50 {{us $t.Latency.P50}} · p99 {{us $t.Latency.P99}} · max {{us $t.Latency.Max}}</td></tr>
<tr><td>latency from actual send (uncorrected)</td><td>p50 {{us .P50}} · p99 {{us .P99}} · max {{us .Max}}</td></tr>{{end}}
{{with $t.Lag}}<tr><td>behind schedule</td><td>p50 {{us .P50}} · p99 {{us .P99}} · max {{us .Max}}</td></tr>{{end}}
{{with $t.PerConn}}{{if .Connections}}<tr><td>{{$u}}s per connection</td><td{{if .Starved}} class="bad"{{end}}>min {{n .Min}} · median {{n .Median}} · max {{n .Max}}{{if .Starved}} · {{.Starved}} of {{.Connections}} starved{{end}}</td></tr>{{end}}{{end}}
<tr><td>connect ({{n $t.Connect.Count}})</td><td>p50 {{us $t.Connect.P50}} · p99 {{us $t.Connect.P99}} · max {{us $t.Connect.Max}}</td></tr>
{{with $t.Server}}<tr><td>server CPU</td><td>{{f2 .User}} s user + {{f2 .Sys}} s sys ({{pct .Percent}} of a core){{if .CyclesUser}} · {{count (deref .CyclesUser)}} + {{count (deref .CyclesKernel)}} cycles per {{$u}}{{end}}</td></tr>{{end}}
<tr><td>generator CPU</td><td>{{f2 $t.Generator.User}} s user + {{f2 $t.Generator.Sys}} s sys ({{pct $t.Generator.Percent}} of its CPUs)</td></tr>
{{if gt (len $t.Rounds) 1}}<tr><td>rounds ({{$u}}/s)</td><td>{{range $j, $r := $t.Rounds}}{{if $j}} · {{end}}{{count $r.Throughput}}{{end}}</td></tr>{{end}}
</table>
</details>
{{end}}{{end}}
<script type="application/json" id="report">{{.JSON}}</script>
<footer>Written by <code>portside bench</code>. The report's data is embedded above as JSON (schema {{.R.Schema}}).</footer>
</main></body></html>
`))
