package stream_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/server"
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

// FuzzSplitServed is FuzzSplit on the served side, where Data hands reads
// what they ask for: a function under the epoll engine reads a delimiter
// (the first byte), then pieces up to it, and writes each back framed with
// its length; the client sends the input in the pieces cuts says.
func FuzzSplitServed(f *testing.F) {
	f.Add([]byte("\nhello\nworld\r\n\ntail"), []byte{3, 1, 7})
	f.Add([]byte(";a;b;;c"), []byte{1, 1, 1, 1})
	f.Add([]byte("xxx"), []byte{})
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	pieces := stream.Handler(func(c *stream.Conn) {
		d, err := c.ReadN(1)
		if err != nil {
			return
		}
		for {
			b, err := c.ReadUntil(d[0])
			if len(b) > 0 {
				c.WriteString(fmt.Sprintf("%d:%s,", len(b), b))
			}
			if err != nil {
				c.WriteString(err.Error())
				return
			}
		}
	})
	srv, err := engine.Start(ctx, engine.Config{Engine: "epoll", Addr: "127.0.0.1:0",
		Service: &server.Service{Handler: pieces, Limits: server.Limits{MaxInput: 1 << 20}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		if len(data) == 0 || len(data) > 64<<10 {
			return
		}
		nc, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		go func() {
			rest := data
			for _, k := range cuts {
				n := min(int(k), len(rest))
				nc.Write(rest[:n])
				rest = rest[n:]
			}
			nc.Write(rest)
			nc.(*net.TCPConn).CloseWrite()
		}()
		got, err := io.ReadAll(nc)
		if err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		d, rest := data[0], data[1:]
		for len(rest) > 0 {
			i := bytes.IndexByte(rest, d)
			if i < 0 {
				i = len(rest) - 1
			}
			fmt.Fprintf(&want, "%d:%s,", i+1, rest[:i+1])
			rest = rest[i+1:]
		}
		want.WriteString("EOF")
		if string(got) != want.String() {
			t.Fatalf("got %q, want %q", got, want.String())
		}
	})
}
