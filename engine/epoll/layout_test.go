//go:build linux

package epoll

import (
	"strconv"
	"testing"
	"unsafe"
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
