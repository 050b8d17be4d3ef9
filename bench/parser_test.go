package bench

import (
	"fmt"
	"reflect"
	"testing"
)

type resp struct {
	Status int
	Length int64
	Close  bool
}

// parseAll feeds chunks to a parser and lists the responses it ends,
// including one delimited by the end of input.
func parseAll(head bool, chunks ...[]byte) ([]resp, error) {
	var p parser
	p.reset()
	p.head = head
	var out []resp
	for _, b := range chunks {
		for len(b) > 0 {
			n, done, err := p.feed(b)
			if err != nil {
				return out, err
			}
			if n == 0 && !done {
				return out, fmt.Errorf("no progress at %q", b)
			}
			b = b[n:]
			if done {
				out = append(out, resp{p.status, p.length, p.close})
				p.reset()
				p.head = head
			}
		}
	}
	if p.state == stEOF {
		out = append(out, resp{p.status, p.length, p.close})
	}
	return out, nil
}

var parserCases = []struct {
	name    string
	in      string
	head    bool
	want    []resp
	wantErr bool
}{
	{name: "content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", want: []resp{{200, 5, false}}},
	{name: "pipelined", in: "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhiHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
		want: []resp{{200, 2, false}, {404, 0, false}, {200, 1, false}}},
	{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!",
		want: []resp{{200, 15, false}, {200, 1, false}}},
	{name: "no content", in: "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", want: []resp{{204, 0, false}, {304, 0, false}}},
	{name: "HEAD", in: "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", head: true, want: []resp{{200, 0, false}}},
	{name: "continue", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc", want: []resp{{201, 3, false}}},
	{name: "close", in: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", want: []resp{{200, 1, true}}},
	{name: "http/1.0", in: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", want: []resp{{200, 1, true}}},
	{name: "http/1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx", want: []resp{{200, 1, false}}},
	{name: "until close", in: "HTTP/1.1 200 OK\r\n\r\nall of this", want: []resp{{200, 11, true}}},
	{name: "bad status line", in: "HTP/1.1 200 OK\r\n\r\n", wantErr: true},
	{name: "bad status code", in: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: true},
	{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: true},
	{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", wantErr: true},
	{name: "bad chunk end", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", wantErr: true},
}

func TestParser(t *testing.T) {
	for _, tc := range parserCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseAll(tc.head, []byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			// Split everywhere: one byte at a time.
			var bytes [][]byte
			for i := range len(tc.in) {
				bytes = append(bytes, []byte{tc.in[i]})
			}
			split, serr := parseAll(tc.head, bytes...)
			if (serr != nil) != tc.wantErr || !reflect.DeepEqual(split, got) {
				t.Errorf("byte by byte: %+v, %v; whole: %+v, %v", split, serr, got, err)
			}
		})
	}
}

func TestParserHeadTooLarge(t *testing.T) {
	big := make([]byte, maxHead+10)
	for i := range big {
		big[i] = 'a'
	}
	if _, err := parseAll(false, []byte("HTTP/1.1 200 OK\r\nX: "), big); err == nil {
		t.Error("a head over the limit parsed")
	}
}

func FuzzParser(f *testing.F) {
	for _, tc := range parserCases {
		f.Add([]byte(tc.in), uint16(len(tc.in)/2), tc.head)
	}
	f.Fuzz(func(t *testing.T, in []byte, at uint16, head bool) {
		whole, werr := parseAll(head, in)
		i := int(at) % (len(in) + 1)
		split, serr := parseAll(head, in[:i], in[i:])
		if (werr == nil) != (serr == nil) || !reflect.DeepEqual(whole, split) {
			t.Errorf("split at %d: %+v, %v; whole: %+v, %v", i, split, serr, whole, werr)
		}
	})
}
