//go:build linux

package uring_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/portside/portside/engine/uring"
	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/server"
)

// TestMain lets TestUnavailable run this binary again as a process whose
// io_uring_setup fails, as it does under a seccomp policy or on a kernel
// without io_uring.
func TestMain(m *testing.M) {
	if e := os.Getenv("URING_TEST_DENY"); e != "" {
		os.Exit(serveDenied(e))
	}
	os.Exit(m.Run())
}

// serveDenied makes io_uring_setup fail with the errno named, serves, and
// prints what Serve returned.
func serveDenied(name string) int {
	errno := map[string]unix.Errno{"ENOSYS": unix.ENOSYS, "EPERM": unix.EPERM}[name]
	if err := testkit.DenyIOUringSetup(errno); err != nil {
		fmt.Println("seccomp:", err)
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen:", err)
		return 2
	}
	err = uring.New(uring.Options{Loops: 2}).Serve(context.Background(), ln, &server.Service{Handler: nopHandler{}})
	fmt.Printf("unavailable=%v\n%v\n", errors.Is(err, uring.ErrUnavailable), err)
	// Serve closed the listener: the port takes connections no more.
	if c, derr := net.Dial("tcp", ln.Addr().String()); derr == nil {
		c.Close()
		fmt.Println("listener still open")
	}
	return 0
}

type nopHandler struct{ server.Base }

func (nopHandler) Data(c server.Conn, in []byte) (int, error) { return len(in), nil }

// TestUnavailable serves where io_uring_setup fails as seccomp or an old
// kernel makes it fail: Serve returns at once with ErrUnavailable, saying
// which call failed and why, and closes the listener.
func TestUnavailable(t *testing.T) {
	for errno, why := range map[string]string{
		"ENOSYS": "built without io_uring",
		"EPERM":  "io_uring_disabled",
	} {
		t.Run(errno, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "URING_TEST_DENY="+errno)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			got := string(out)
			for _, want := range []string{"unavailable=true", "io_uring_setup", why} {
				if !strings.Contains(got, want) {
					t.Errorf("Serve's error %q lacks %q", got, want)
				}
			}
			if strings.Contains(got, "listener still open") {
				t.Error("Serve left the listener open")
			}
		})
	}
}
