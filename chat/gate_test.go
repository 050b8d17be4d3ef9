package chat

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/portside/portside/server/servertest"
)

var errBadLine = errors.New("bad line")

// gateDoor is a door in miniature: it handles lines, holds on "wait" until
// the test resumes it, and fails on "bad".
type gateDoor struct {
	g   Gate
	c   *servertest.Conn
	log []string
	buf []byte // the engine's unconsumed input
}

func (d *gateDoor) lines(in []byte) (int, error) {
	used := 0
	for {
		i := bytes.IndexByte(in[used:], '\n')
		if i < 0 {
			return used, nil
		}
		line := string(in[used : used+i])
		used += i + 1
		if line == "bad" {
			return used, errBadLine
		}
		d.log = append(d.log, line)
		switch line {
		case "wait":
			d.g.Hold()
			return used, nil
		case "brief":
			d.g.HoldBrief()
			return used, nil
		}
	}
}

// feed hands b to the gate size bytes at a time, keeping what it leaves
// unconsumed as an engine does.
func (d *gateDoor) feed(t *testing.T, b []byte, size int) {
	t.Helper()
	for i := 0; i < len(b); i += size {
		d.buf = append(d.buf, b[i:min(i+size, len(b))]...)
		n, err := d.g.Data(d.buf, d.lines)
		if err != nil {
			d.log = append(d.log, "error: "+err.Error())
			d.buf = nil
			return
		}
		if n < 0 || n > len(d.buf) {
			t.Fatalf("Data consumed %d of %d bytes", n, len(d.buf))
		}
		d.buf = d.buf[n:]
		if len(d.buf) > 0 && len(d.g.held) > 0 {
			t.Fatalf("both the engine (%q) and the gate (%q) keep input", d.buf, d.g.held)
		}
	}
}

func (d *gateDoor) resume() {
	d.g.Resume(d.c, func() { d.log = append(d.log, "answer") }, d.lines)
}

// runGate plays steps: "!" resumes, "#" closes, anything else is input
// handed size bytes at a time.
func runGate(t *testing.T, steps []string, size int) *gateDoor {
	t.Helper()
	d := &gateDoor{c: servertest.NewConn()}
	for _, s := range steps {
		switch s {
		case "!":
			d.resume()
		case "#":
			d.g.Close(func() { d.log = append(d.log, "closed") })
		default:
			d.feed(t, []byte(s), size)
		}
	}
	return d
}

var gateTests = []struct {
	name      string
	steps     []string
	want      []string
	connClose bool // Resume closed the connection
}{
	{"no wait", []string{"a\nb\n"}, []string{"a", "b"}, false},
	{"input behind a wait waits", []string{"a\nwait\nb\nc\n", "!"}, []string{"a", "wait", "answer", "b", "c"}, false},
	{"input while waiting waits", []string{"wait\n", "b\n", "c\n", "!", "d\n"}, []string{"wait", "answer", "b", "c", "d"}, false},
	{"partial line kept across the answer", []string{"wait\nb\npar", "!", "tial\nd\n"}, []string{"wait", "answer", "b", "partial", "d"}, false},
	{"partial line before the wait", []string{"wait\npar", "!", "t", "ial\n"}, []string{"wait", "answer", "partial"}, false},
	{"waits in a row", []string{"wait\nwait\nb\n", "!", "!"}, []string{"wait", "answer", "wait", "answer", "b"}, false},
	{"a wait while draining holds the rest", []string{"wait\n", "wait\nb\n", "!", "c\n", "!"}, []string{"wait", "answer", "wait", "answer", "b", "c"}, false},
	{"error while draining closes", []string{"wait\nbad\nc\n", "!", "d\n"}, []string{"wait", "answer", "error: bad line"}, true},
	{"error without a wait", []string{"a\nbad\nc\n"}, []string{"a", "error: bad line"}, false},
	{"resume after close runs nothing", []string{"wait\nb\n", "#", "!"}, []string{"wait", "closed"}, false},
	{"input after close is dropped", []string{"#", "a\n"}, []string{"closed"}, false},
}

func TestGate(t *testing.T) {
	for _, tt := range gateTests {
		whole := 0
		for _, s := range tt.steps {
			whole = max(whole, len(s))
		}
		for _, size := range []int{whole, 2, 1} {
			t.Run(tt.name+"/size="+strconv.Itoa(size), func(t *testing.T) {
				d := runGate(t, tt.steps, size)
				if got, want := strings.Join(d.log, "|"), strings.Join(tt.want, "|"); got != want {
					t.Errorf("handled %s, want %s", got, want)
				}
				if d.c.Closed() != tt.connClose {
					t.Errorf("connection closed: %v, want %v", d.c.Closed(), tt.connClose)
				}
			})
		}
	}
}

// TestGateBound: input held while waiting is bounded.
func TestGateBound(t *testing.T) {
	tests := []struct {
		name string
		held int
		want error
	}{
		{"at the bound", maxHeld, nil},
		{"beyond", maxHeld + 1, ErrHeldTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &gateDoor{c: servertest.NewConn()}
			d.feed(t, []byte("wait\n"), 5)
			_, err := d.g.Data(bytes.Repeat([]byte("x"), tt.held), d.lines)
			if !errors.Is(err, tt.want) {
				t.Errorf("Data of %d bytes while waiting = %v, want %v", tt.held, err, tt.want)
			}
		})
	}
}

// TestGateConcurrent: the answer comes on another goroutine while input
// keeps arriving; whatever the interleaving, lines are handled after the
// answer, in order.
func TestGateConcurrent(t *testing.T) {
	for range 50 {
		d := &gateDoor{c: servertest.NewConn()}
		d.feed(t, []byte("wait\n"), 5)
		var wg sync.WaitGroup
		wg.Go(d.resume)
		d.feed(t, []byte("a\nb\nc\n"), 1)
		wg.Wait()
		if got, want := strings.Join(d.log, "|"), "wait|answer|a|b|c"; got != want {
			t.Fatalf("handled %s, want %s", got, want)
		}
	}
}

// FuzzGate: input split anywhere, and answers anywhere between the pieces,
// are handled as the whole input answered at once.
func FuzzGate(f *testing.F) {
	for _, tt := range gateTests {
		if !tt.connClose && !slices.Contains(tt.steps, "#") {
			f.Add([]byte(strings.Join(tt.steps, "")), uint8(1))
			f.Add([]byte(strings.Join(tt.steps, "")), uint8(3))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		in = bytes.ReplaceAll(in, []byte("bad"), nil)
		in = bytes.ReplaceAll(in, []byte("!"), nil)
		in = bytes.ReplaceAll(in, []byte("#"), nil)
		lines := strings.Split(string(in), "\n")
		waits := 0
		for _, l := range lines[:len(lines)-1] {
			if l == "wait" {
				waits++
			}
		}
		// Whole: everything at once, then every answer.
		whole := &gateDoor{c: servertest.NewConn()}
		whole.feed(t, in, len(in)+1)
		for range waits {
			whole.resume()
		}
		// Split: in pieces, an answer after each piece while one is due.
		split := &gateDoor{c: servertest.NewConn()}
		size := int(step%16) + 1
		answered := 0
		for i := 0; i < len(in); i += size {
			split.feed(t, in[i:min(i+size, len(in))], size)
			if split.g.holding && answered < waits {
				split.resume()
				answered++
			}
		}
		for ; answered < waits; answered++ {
			split.resume()
		}
		if got, want := strings.Join(split.log, "|"), strings.Join(whole.log, "|"); got != want {
			t.Fatalf("split handled %q, whole %q", got, want)
		}
	})
}

// TestGateEOF: a client that shuts its sending side while the gate holds
// briefly (behind its own message) has what it sent handled once the
// answer comes, and is closed after; one held for a nick claim, or not
// held at all, is closed at once.
func TestGateEOF(t *testing.T) {
	for _, tc := range []struct {
		in          string // handed in before the EOF
		closedAtEOF bool
		log         []string // once resumed, if it holds
	}{
		{"brief\nafter\n", false, []string{"brief", "answer", "after"}},
		{"wait\nafter\n", true, []string{"wait"}},
		{"one\n", true, []string{"one"}},
	} {
		t.Run(strings.Fields(tc.in)[0], func(t *testing.T) {
			d := &gateDoor{c: servertest.NewConn()}
			d.feed(t, []byte(tc.in), len(tc.in))
			d.g.EOF(d.c, nil)
			if d.c.Closed() != tc.closedAtEOF {
				t.Fatalf("closed at EOF: %v, want %v", d.c.Closed(), tc.closedAtEOF)
			}
			if d.c.Closed() {
				// The engine closes the connection: the door's Close.
				d.g.Close(func() {})
			}
			d.resume()
			if !d.c.Closed() {
				t.Error("not closed once the held input was handled")
			}
			if !slices.Equal(d.log, tc.log) {
				t.Errorf("log %q, want %q", d.log, tc.log)
			}
		})
	}
}
