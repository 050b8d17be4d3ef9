//go:build linux

package epoll

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestConnLayout(t *testing.T) {
	if strconv.IntSize != 64 {
		t.Skip("laid out for 64-bit systems")
	}
	if got, want := unsafe.Sizeof(conn{}), uintptr(256); got != want {
		t.Errorf("conn is %d bytes, want %d: adjust its padding", got, want)
	}
	if got, want := unsafe.Offsetof(conn{}.inb), uintptr(128); got != want {
		t.Errorf("the hot fields end at %d, want %d", got, want)
	}
}

// TestCopyFile checks the path taken where sendfile(2) refuses a file.
func TestCopyFile(t *testing.T) {
	data := make([]byte, 200<<10)
	for i := range data {
		data[i] = byte(i % 251)
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	l := &loop{buf: make([]byte, readBufSize)}
	c := &conn{fd: int32(fds[0])}
	c.out.AppendFile(f, 100, int64(len(data))-100)

	var got []byte
	buf := make([]byte, 64<<10)
	for !c.out.Empty() {
		if _, err := l.copyFile(c); err != nil {
			t.Fatal(err)
		}
		for {
			n, err := unix.Read(fds[1], buf)
			if err != nil || n == 0 {
				break
			}
			got = append(got, buf[:n]...)
		}
	}
	if !bytes.Equal(got, data[100:]) {
		t.Errorf("got %d bytes, want %d equal to the file's", len(got), len(data)-100)
	}
	if c.out.Queued() != 0 || l.bytesOut != int64(len(data))-100 {
		t.Errorf("queued %d, counted %d out; want 0, %d", c.out.Queued(), l.bytesOut, len(data)-100)
	}
	if err := f.Close(); err == nil {
		t.Error("file still open after it was sent")
	}
}
