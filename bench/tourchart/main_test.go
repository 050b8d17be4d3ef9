package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestRender draws the chart from a small directory of the files
// bench/tour.sh writes, and checks the SVG is well-formed XML with one
// line per engine measured at more than one level, every point inside the
// plot, every engine named, and the table's rows and caps.
func TestRender(t *testing.T) {
	tr, err := load("testdata/tour")
	if err != nil {
		t.Fatal(err)
	}
	var svg bytes.Buffer
	if err := tr.svg(&svg, "tour <test>"); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(svg.Bytes()))
	var root string
	polylines, circles := 0, 0
	var texts []string
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg.String())
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				root = tok.Name.Local
				if tok.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("root namespace %q", tok.Name.Space)
				}
			}
			depth++
			switch tok.Name.Local {
			case "polyline":
				polylines++
			case "circle":
				circles++
				for _, a := range tok.Attr {
					v, err := strconv.ParseFloat(a.Value, 64)
					if a.Name.Local == "cx" && (err != nil || v < left || v > width-right) ||
						a.Name.Local == "cy" && (err != nil || v < top || v > height-bottom) {
						t.Errorf("point %s=%q outside the plot", a.Name.Local, a.Value)
					}
				}
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth > 0 {
				texts = append(texts, string(tok))
			}
		}
	}
	if root != "svg" || depth != 0 {
		t.Fatalf("root %q, depth at end %d", root, depth)
	}
	// fork, select and epoll at 0 and 100 idle; iterative at 0 alone.
	if polylines != 3 || circles != 7 {
		t.Errorf("%d lines, %d points; want 3 and 7", polylines, circles)
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{"tour <test>", "iterative (1 active)", "fork", "select", "epoll", "100", "load average 22.5–29.9"} {
		if !strings.Contains(all, want) {
			t.Errorf("chart has no text %q:\n%s", want, all)
		}
	}

	var tab bytes.Buffer
	tr.table(&tab)
	rows := strings.Split(strings.TrimSpace(tab.String()), "\n")
	if len(rows) != 2+4 {
		t.Fatalf("table has %d rows, want a head, a rule and 4 engines:\n%s", len(rows), tab.String())
	}
	for i, e := range []string{"iterative", "fork", "select", "epoll"} {
		if !strings.HasPrefix(rows[2+i], "| "+e+" |") {
			t.Errorf("row %d is %q, want engine %s (the guides' order)", i, rows[2+i], e)
		}
	}
	if !strings.Contains(rows[0], "| 1 active, 0 idle |") {
		t.Errorf("head %q: want a column for the 1-connection run", rows[0])
	}
	if !strings.HasPrefix(rows[2], "| iterative | — | — | 0.69 + 8.0 µs, 58k |") {
		t.Errorf("iterative row %q: want no 50-connection figures, and its 1-connection ones", rows[2])
	}
	if !strings.HasPrefix(rows[5], "| epoll | 0.69 + 8.0 µs, 58k | 0.87 + 6.2 µs, 41k | 3.21 + 8.0 µs, 12k |") {
		t.Errorf("epoll row %q: want 0 and 100 idle, then its 1-connection run", rows[5])
	}
	if !strings.Contains(rows[3], "MiB") {
		t.Errorf("fork row %q: want its children's memory, in MiB", rows[3])
	}
}

// TestLoadErrors: a directory without reports, or a report beside idle
// connections nobody counted, is an error that says what is missing.
func TestLoadErrors(t *testing.T) {
	if _, err := load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no L<idle>.json") {
		t.Errorf("empty directory: %v", err)
	}
	dir := t.TempDir()
	b, err := readAll("testdata/tour/L100.json")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir+"/L100.json", b)
	if _, err := load(dir); err == nil || !strings.Contains(err.Error(), "idle-L100-") {
		t.Errorf("no idle files: %v", err)
	}
}

func readAll(path string) ([]byte, error) { return os.ReadFile(path) }

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
