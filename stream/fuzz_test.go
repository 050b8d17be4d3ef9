package stream_test

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/portside/portside/stream"
)

// FuzzSplit feeds data, cut into pieces where cuts says, to a connection
// read with ReadUntil or ReadLine, and checks the reads give back exactly
// data, split at each delimiter and nowhere else.
func FuzzSplit(f *testing.F) {
	f.Add([]byte("hello\nworld\r\n\ntail"), []byte{3, 1, 7}, byte('\n'), false)
	f.Add([]byte("a;b;;c"), []byte{1, 1, 1}, byte(';'), false)
	f.Add([]byte("\r\n\r\r\n"), []byte{1}, byte('\n'), true)
	f.Fuzz(func(t *testing.T, data, cuts []byte, delim byte, lines bool) {
		client, server := net.Pipe()
		go func() {
			rest := data
			for _, k := range cuts {
				n := min(int(k), len(rest))
				server.Write(rest[:n])
				rest = rest[n:]
			}
			server.Write(rest)
			server.Close()
		}()
		c := stream.NewConn(client, len(data)+1)
		defer c.Close()
		var got [][]byte
		for {
			var b []byte
			var err error
			if lines {
				b, err = c.ReadLine()
			} else {
				b, err = c.ReadUntil(delim)
			}
			if err != nil && err != io.EOF {
				t.Fatalf("read: %v", err)
			}
			if err == io.EOF && len(b) == 0 {
				break
			}
			got = append(got, b)
			if err == io.EOF {
				if lines {
					t.Fatal("ReadLine returned a line with io.EOF")
				}
				if bytes.IndexByte(b, delim) >= 0 {
					t.Fatalf("last piece %q holds the delimiter", b)
				}
				break
			}
		}
		if !lines {
			for i, b := range got[:max(len(got)-1, 0)] {
				if bytes.IndexByte(b, delim) != len(b)-1 {
					t.Fatalf("piece %d %q: delimiter not at its end, alone", i, b)
				}
			}
			if j := bytes.Join(got, nil); !bytes.Equal(j, data) {
				t.Fatalf("pieces %q join to %q, want %q", got, j, data)
			}
			return
		}
		// Lines: each line is a run between LFs with one trailing CR cut.
		var want [][]byte
		for rest := data; len(rest) > 0; {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				want = append(want, rest)
				break
			}
			want = append(want, bytes.TrimSuffix(rest[:i], []byte("\r")))
			rest = rest[i+1:]
		}
		if len(got) != len(want) {
			t.Fatalf("lines %q, want %q", got, want)
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("line %d %q, want %q", i, got[i], want[i])
			}
		}
	})
}
