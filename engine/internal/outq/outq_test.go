//go:build linux

package outq

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestBytes queues more than a chunk, sends it through Iovecs and Sent in
// uneven pieces, and checks the bytes come out in order with Mem and
// Queued counting down to an empty queue.
func TestBytes(t *testing.T) {
	var q Queue
	var want []byte
	for i := range 40 {
		b := bytes.Repeat([]byte{byte(i)}, 1000+i*37)
		q.Append(b)
		want = append(want, b...)
	}
	if q.Mem() != len(want) || q.Queued() != int64(len(want)) {
		t.Fatalf("mem %d queued %d, want %d", q.Mem(), q.Queued(), len(want))
	}
	var got []byte
	iovs := make([]unix.Iovec, 0, 2)
	for step := 5000; !q.Empty(); step += 3001 {
		iov, total := q.Iovecs(iovs[:0])
		if len(iov) == 0 || total == 0 {
			t.Fatalf("no iovecs with %d bytes queued", q.Mem())
		}
		var all []byte
		for _, v := range iov {
			all = append(all, unsafe.Slice(v.Base, v.Len)...)
		}
		if len(all) != total {
			t.Fatalf("iovecs hold %d bytes, reported %d", len(all), total)
		}
		n := min(step, total)
		got = append(got, all[:n]...)
		q.Sent(n)
		if q.Mem() != len(want)-len(got) || q.Queued() != int64(q.Mem()) {
			t.Fatalf("after %d sent: mem %d queued %d", len(got), q.Mem(), q.Queued())
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("sent %d bytes, not the %d queued in order", len(got), len(want))
	}
}

// TestFile checks a file range between chunks: Iovecs stops at it, its
// bytes count in Queued but not Mem, FileSent closes the file once its
// range is sent, and Release closes the files still queued.
func TestFile(t *testing.T) {
	open := func() *os.File {
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, make([]byte, 100), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	var q Queue
	f, g := open(), open()
	q.Append([]byte("head"))
	q.AppendFile(f, 10, 50)
	q.Append([]byte("tail"))
	q.AppendFile(g, 0, 100)
	if q.Mem() != 8 || q.Queued() != 158 {
		t.Fatalf("mem %d queued %d, want 8, 158", q.Mem(), q.Queued())
	}
	iov, total := q.Iovecs(make([]unix.Iovec, 0, 8))
	if len(iov) != 1 || total != 4 {
		t.Fatalf("iovecs %d of %d bytes, want the 4 before the file", len(iov), total)
	}
	q.Sent(4)
	s := q.Head()
	if s.F != f || s.Off != 10 || s.N != 50 {
		t.Fatalf("head %+v, want the file range", *s)
	}
	q.FileSent(20)
	if closed(f) {
		t.Fatal("file closed with 30 bytes left to send")
	}
	q.FileSent(30)
	if !closed(f) {
		t.Fatal("file still open once its range was sent")
	}
	if q.Mem() != 4 || q.Queued() != 104 {
		t.Fatalf("mem %d queued %d, want 4, 104", q.Mem(), q.Queued())
	}
	q.Release()
	if !q.Empty() || q.Mem() != 0 || q.Queued() != 0 {
		t.Fatalf("released queue: empty %v mem %d queued %d", q.Empty(), q.Mem(), q.Queued())
	}
	if !closed(g) {
		t.Fatal("queued file still open after Release")
	}
}

// closed reports whether f was closed: Fd says so with ^0.
func closed(f *os.File) bool { return f.Fd() == ^uintptr(0) }
