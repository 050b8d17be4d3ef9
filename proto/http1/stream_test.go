package http1

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// TestLargeBody streams a 1 GiB body, with each framing, through the parser
// in 64 KiB reads and checks that the parser's own memory stays small.
func TestLargeBody(t *testing.T) {
	const size = 1 << 30
	const read = 64 << 10
	for _, chunked := range []bool{false, true} {
		t.Run("chunked="+strconv.FormatBool(chunked), func(t *testing.T) {
			p := &Parser{Limits: Limits{MaxBody: size}}
			head := "PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n"
			if chunked {
				head = "PUT /big HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
			}
			n, ev, err := p.Next([]byte(head))
			if err != nil || ev != Head || n != len(head) {
				t.Fatalf("head: n=%d ev=%v err=%v", n, ev, err)
			}
			// Chunked, each 64 KiB holds one chunk, handed over in two
			// reads split inside the chunk-size line.
			buf := bytes.Repeat([]byte{'x'}, read)
			if chunked {
				frame := AppendChunkSize(nil, read-16)
				buf = append(append(frame, bytes.Repeat([]byte{'x'}, read-16)...), "\r\n"...)
			}
			var got int64
			for got < size {
				for _, in := range [][]byte{buf[:3], buf[3:]} {
					for len(in) > 0 {
						n, ev, err := p.Next(in)
						if err != nil {
							t.Fatalf("after %d body bytes: %v", got, err)
						}
						in = in[n:]
						switch ev {
						case Body:
							got += int64(len(p.Body()))
						case End:
							t.Fatalf("End after %d body bytes", got)
						}
					}
				}
				if chunked && got+int64(read-16) > size {
					break
				}
			}
			var tail []byte
			if chunked {
				tail = append(AppendChunk(nil, bytes.Repeat([]byte{'y'}, int(size-got))), "0\r\n\r\n"...)
			}
			for {
				n, ev, err := p.Next(tail)
				if err != nil {
					t.Fatal(err)
				}
				tail = tail[n:]
				if ev == Body {
					got += int64(len(p.Body()))
				}
				if ev == End {
					break
				}
				if ev == NeedMore {
					t.Fatalf("NeedMore after %d body bytes", got)
				}
			}
			if got != size {
				t.Errorf("body bytes: got %d, want %d", got, size)
			}
			if c := cap(p.buf) + cap(p.line) + cap(p.tbuf); c > 4<<10 {
				t.Errorf("parser buffers hold %d bytes, want at most 4 KiB", c)
			}
		})
	}
}

// TestRequestOutlivesInput checks that a Request stays intact when the input
// it was parsed from is reused while its body streams in.
func TestRequestOutlivesInput(t *testing.T) {
	var p Parser
	in := []byte("POST /up?x=1 HTTP/1.1\r\nHost: h\r\nX-Token: abc\r\nContent-Length: 6\r\n\r\nabc")
	n, ev, err := p.Next(in)
	if err != nil || ev != Head {
		t.Fatalf("ev=%v err=%v", ev, err)
	}
	r := p.Request()
	want := renderRequest(r) + " token=" + string(r.Header.Get("x-token"))
	n2, ev, err := p.Next(in[n:])
	if err != nil || ev != Body || string(p.Body()) != "abc" {
		t.Fatalf("body: ev=%v err=%v body=%q", ev, err, p.Body())
	}
	if n+n2 != len(in) {
		t.Fatalf("consumed %d of %d", n+n2, len(in))
	}
	// The engine reuses its read buffer for the next read.
	copy(in, bytes.Repeat([]byte{'#'}, len(in)))
	copy(in, "def")
	if _, ev, err = p.Next(in[:3]); err != nil || ev != Body || string(p.Body()) != "def" {
		t.Fatalf("body: ev=%v err=%v body=%q", ev, err, p.Body())
	}
	if got := renderRequest(r) + " token=" + string(r.Header.Get("x-token")); got != want {
		t.Errorf("request after its input was reused: got %q, want %q", got, want)
	}
	if _, ev, _ = p.Next(nil); ev != End {
		t.Errorf("got %v, want End", ev)
	}
}

func TestHeader(t *testing.T) {
	var p Parser
	in := "GET / HTTP/1.1\r\nHost: h\r\naccept-ENCODING: gzip\r\nX-Empty:\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n"
	if _, ev, err := p.Next([]byte(in)); err != nil || ev != Head {
		t.Fatalf("ev=%v err=%v", ev, err)
	}
	r := p.Request()
	for _, tc := range []struct {
		name string
		want string
		ok   bool
	}{
		{"Accept-Encoding", "gzip", true},
		{"accept-encoding", "gzip", true},
		{"HOST", "h", true},
		{"X-Empty", "", true},
		{"X-Dup", "1", true},
		{"X-Missing", "", false},
		{"Accept-Encodin", "", false},
	} {
		v, ok := r.Header.Lookup(tc.name)
		if string(v) != tc.want || ok != tc.ok {
			t.Errorf("Header.Lookup(%q) = %q, %t; want %q, %t", tc.name, v, ok, tc.want, tc.ok)
		}
		if h := r.Header.Get(tc.name); string(h) != tc.want {
			t.Errorf("Header.Get(%q) = %q, want %q", tc.name, h, tc.want)
		}
	}
	if r.Header.Len() != 5 {
		t.Errorf("got %d fields, want 5", r.Header.Len())
	}
	if name, value := r.Header.At(4); string(name) != "x-dup" || string(value) != "2" {
		t.Errorf("At(4) = %q, %q; want x-dup, 2", name, value)
	}
}

func TestReset(t *testing.T) {
	var p Parser
	if _, _, err := p.Next([]byte("GET / HTTP/1.1\r\n\r\n")); err == nil {
		t.Fatal("want an error for a missing Host")
	}
	p.Reset()
	if _, ev, err := p.Next([]byte("GET /again HTTP/1.1\r\nHost: h\r\n\r\n")); err != nil || ev != Head {
		t.Fatalf("after Reset: ev=%v err=%v", ev, err)
	}
	if got := string(p.Request().Path); got != "/again" {
		t.Errorf("path %q, want /again", got)
	}
	// A partial head is dropped by Reset too.
	p.Reset()
	p.Next([]byte("GET /partial HTTP/1.1\r\nHo"))
	p.Reset()
	if _, ev, err := p.Next([]byte("GET /b HTTP/1.0\r\n\r\n")); err != nil || ev != Head || string(p.Request().Path) != "/b" {
		t.Fatalf("after Reset: ev=%v err=%v", ev, err)
	}
}

func TestKnownMethod(t *testing.T) {
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"} {
		if !KnownMethod(m) {
			t.Errorf("KnownMethod(%q) = false", m)
		}
	}
	for _, m := range []string{"get", "PURGE", "", "GETS"} {
		if KnownMethod(m) {
			t.Errorf("KnownMethod(%q) = true", m)
		}
	}
}

// TestZeroAllocs holds the hot path to its promise: a typical GET parsed,
// alone or pipelined, allocates nothing once the parser is warm.
func TestZeroAllocs(t *testing.T) {
	for _, reqs := range []int{1, 16} {
		in := []byte(strings.Repeat(typicalGET, reqs))
		var p Parser
		allocs := testing.AllocsPerRun(100, func() {
			for off := 0; off < len(in); {
				n, _, err := p.Next(in[off:])
				if err != nil {
					t.Fatal(err)
				}
				off += n
			}
			p.Next(nil)
		})
		if allocs != 0 {
			t.Errorf("%d pipelined: %v allocs per run, want 0", reqs, allocs)
		}
	}
}
