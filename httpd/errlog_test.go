package httpd_test

import (
	"bufio"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/portside/portside/httpd"
	"github.com/portside/portside/internal/testkit"
)

// TestServerErrorLogged: a 500 says why in the log. Out of descriptors, a
// file sent from one cannot be opened: the answer is 500, and the log has
// the path and the error.
func TestServerErrorLogged(t *testing.T) {
	testkit.EachEngine(t, 0, func(t *testing.T, name string) {
		var log testkit.SyncBuffer
		dir := tree(t, map[string]string{"f.bin": strings.Repeat("f", 16<<10+1)})
		addr := serve(t, name, httpd.Options{Root: dir, Logger: slog.New(slog.NewTextHandler(&log, nil))})
		c := dial(t, addr)
		br := bufio.NewReader(c)
		get := func() int {
			t.Helper()
			io.WriteString(c, "GET /f.bin HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			return resp.StatusCode
		}
		if s := get(); s != 200 {
			t.Fatalf("GET: %d", s)
		}

		// No descriptor free: the limit lowered to the lowest free one,
		// and any freed below it meanwhile taken.
		var old syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			t.Fatal(err)
		}
		// Descriptors left unclosed by earlier tests are closed by
		// finalizers, which would free one: run them first.
		runtime.GC()
		runtime.GC()
		status := 0
		for range 20 { // a descriptor closed elsewhere in between is one more
			probe, err := syscall.Open(os.DevNull, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			syscall.Close(probe)
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: uint64(probe), Max: old.Max}); err != nil {
				t.Skipf("cannot lower the descriptor limit: %v", err)
			}
			var fill []int
			for {
				fd, err := syscall.Open(os.DevNull, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
				if err != nil {
					break
				}
				fill = append(fill, fd)
			}
			status = get()
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
				t.Fatal(err)
			}
			for _, fd := range fill {
				syscall.Close(fd)
			}
			if status == 500 {
				break
			}
		}
		if status != 500 {
			t.Fatalf("GET out of descriptors: %d, want 500", status)
		}
		if s := get(); s != 200 {
			t.Errorf("GET with descriptors again: %d", s)
		}
		l := log.String()
		if !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "path=/f.bin") || !strings.Contains(l, "too many open files") {
			t.Errorf("the log does not say why the 500:\n%s", l)
		}
	})
}
