package httpd_test

import (
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portside/portside/httpd"
	"github.com/portside/portside/internal/testkit"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents)
}

// dialSmallWindow connects with a small receive buffer, set before the
// handshake, so the kernel takes little of what the server sends to a
// client that does not read.
func dialSmallWindow(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPipelinedFilesBoundDescriptors: clients that pipeline many requests
// for files sent from descriptors, and never read, hold a bounded number
// of descriptors each: the server reads their further requests only as
// files are sent.
func TestPipelinedFilesBoundDescriptors(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		const conns, reqs, perConn = 20, 200, 8 + 4 // maxQueuedFiles and a few
		dir := tree(t, map[string]string{"f.bin": strings.Repeat("f", 16<<10+1)})
		addr := serve(t, name, httpd.Options{Root: dir})
		// The file is held open by the cache after a first request.
		if got := exchange(t, addr, "GET /f.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
			t.Fatalf("first GET: %q", trunc(got))
		}
		before := openFDs(t)
		req := strings.Repeat("GET /f.bin HTTP/1.1\r\nHost: x\r\n\r\n", reqs)
		cs := make([]net.Conn, conns)
		for i := range cs {
			cs[i] = dialSmallWindow(t, addr)
			if _, err := io.WriteString(cs[i], req); err != nil {
				t.Fatal(err)
			}
		}
		// Each connection's two ends, and at most perConn files each.
		bound := before + 2*conns + conns*perConn
		peak := 0
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
			peak = max(peak, openFDs(t))
			if peak > bound {
				break
			}
			time.Sleep(10 * time.Millisecond) // sampling, not synchronising
		}
		t.Logf("peak %d descriptors, bound %d, %d before", peak, bound, before)
		if peak > bound {
			t.Errorf("%d descriptors open with %d clients pipelining file requests, want at most %d (%d before)", peak, conns, bound, before)
		}
		// The clients were served, and are when they read.
		for i, c := range cs {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := io.ReadFull(c, make([]byte, 3*(16<<10)))
			if err != nil {
				t.Fatalf("client %d: read %d bytes: %v", i, n, err)
			}
		}
	})
}
