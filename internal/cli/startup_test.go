package cli

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/internal/testkit"
)

// oneLine checks that a failed start said one line, with one prefix, and
// nothing on stdout: no banner for a service that never served.
func oneLine(t *testing.T, code, wantCode int, stdout, stderr, want string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit %d, want %d", code, wantCode)
	}
	if stdout != "" {
		t.Errorf("printed a banner before failing:\n%s", stdout)
	}
	if strings.Count(stderr, "\n") != 1 || strings.Count(stderr, "portside ") != 1 || !strings.Contains(stderr, want) {
		t.Errorf("stderr %q: want one line saying %q", stderr, want)
	}
}

func TestNoBannerBeforeFailure(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	code, out, errs := run(t, t.Context(), "", "serve", "--echo-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--chat-listen", "127.0.0.1:0", "--chat-data", "-", "--metrics", held.Addr().String())
	oneLine(t, code, 1, out, errs, "portside serve: --metrics: listen tcp "+held.Addr().String())

	code, out, errs = run(t, t.Context(), "", "echo", "--engine", "epoll", "--tls-self-signed", "--listen", "127.0.0.1:0")
	oneLine(t, code, 2, out, errs, "portside echo: --engine epoll cannot run echo: this engine cannot serve TLS; use --engine "+
		orList(engine.Able(engine.Needs{TLS: true})))

	code, out, errs = run(t, t.Context(), "", "serve", "--engine", "fork", "--echo-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--chat-listen", "127.0.0.1:0", "--chat-data", "-")
	oneLine(t, code, 2, out, errs, "--engine fork cannot run chat")

	code, out, errs = run(t, t.Context(), "", "echo", "--engine", "goroutine", "--loops", "2", "--listen", "127.0.0.1:0")
	oneLine(t, code, 2, out, errs, "portside echo: --loops does nothing under --engine goroutine")

	code, out, errs = run(t, t.Context(), "", "serve", "--http-auth-all", "--chat-data", "-")
	if code != 2 || !strings.Contains(errs, "--http-auth-all needs --http-auth user:pass") || out != "" {
		t.Errorf("serve --http-auth-all: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestEnginesOffered: --engine offers the engines that can run what the
// command starts, found by asking each engine of the registry.
func TestEnginesOffered(t *testing.T) {
	for cmd, n := range map[string]engine.Needs{"serve": {SharedState: true}, "chat": {SharedState: true}, "echo": {}, "http": {}} {
		_, out, _ := run(t, t.Context(), "", cmd, "--help")
		want := "concurrency engine: " + strings.Join(engine.Able(n), ", ") + " (default"
		if !strings.Contains(out, want) {
			t.Errorf("%s --help does not offer %q", cmd, want)
		}
	}
	_, out, _ := run(t, t.Context(), "", "serve", "--help")
	if strings.Contains(out, "fork, ") || strings.Contains(out, ", fork") {
		t.Errorf("serve --help offers fork, which cannot run chat")
	}
}

// TestHelpNamesFlagsAsTyped: help shows --flag, and a cross-reference
// names the flag as the command knows it.
func TestHelpNamesFlagsAsTyped(t *testing.T) {
	_, out, _ := run(t, t.Context(), "", "serve", "--help")
	for _, want := range []string{"\n  --http-auth-all\n", "require --http-auth for every request", "not under --chat-data\n", "\n  --engine engine\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	if regexp.MustCompile(`\n  -[a-z][a-z]`).MatchString(out) || regexp.MustCompile(`--(auth|data)\b`).MatchString(out) {
		t.Errorf("serve --help shows a one-dash flag or names --auth or --data, which serve does not have:\n%s", out)
	}
	_, out, _ = run(t, t.Context(), "", "bench", "--help")
	if !strings.Contains(out, "\n  -c int\n") {
		t.Errorf("bench --help: one-letter flags keep one dash:\n%s", out)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, t.Context(), "", "--version")
	if code != 0 || !strings.HasPrefix(out, "portside ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/portside/portside", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "5ba0cd6e"}, {Key: "vcs.time", Value: "2026-11-30T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := formatVersion(bi), "portside v1.2.3 revision 5ba0cd6e (modified) 2026-11-30T10:00:00Z go1.26.0"; got != want {
		t.Errorf("formatVersion = %q, want %q", got, want)
	}
}

func TestChatIterativeWarns(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // started and stopped: the warning comes at start
	code, _, errs := run(t, ctx, "", "chat", "--engine", "iterative", "--listen", "127.0.0.1:0", "--data", "-")
	if code != 0 || !strings.Contains(errs, "level=WARN") || !strings.Contains(errs, "serves one connection at a time: a second chat user waits") {
		t.Errorf("exit %d, stderr %q; want a warning", code, errs)
	}
}

// TestConnectInterrupted: connect interrupted mid-session exits 130.
func TestConnectInterrupted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			c.Write([]byte("hello\n"))
			io.ReadFull(c, make([]byte, 3)) // the session is up: connect sent its first line
		}
		cancel() // Ctrl-C
	}()
	pr, pw := io.Pipe() // never ends
	defer pw.Close()
	var out testkit.SyncBuffer
	code := Run(ctx, []string{"connect", ln.Addr().String()}, io.MultiReader(strings.NewReader("hi\n"), pr), &out, &out)
	if code != 130 {
		t.Errorf("exit %d, want 130; output %q", code, out.String())
	}
}

func TestChatDataUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	code, out, errs := run(t, t.Context(), "", "chat", "--listen", "127.0.0.1:0", "--data", filepath.Join(file, "chat"))
	oneLine(t, code, 2, out, errs, "cannot make the folder")
	if !strings.Contains(errs, "give --data a folder you can write, or --data - to keep history in memory only") {
		t.Errorf("stderr %q does not say what to do", errs)
	}
	// A folder the command may not write in. Root may write anywhere, so
	// as root the real command runs as nobody.
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755) // the test's own temporary root
	ro := filepath.Join(dir, "ro")
	os.Mkdir(ro, 0o555)
	args := []string{"serve", "--echo-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--chat-listen", "127.0.0.1:0", "--chat-data", ro}
	if os.Geteuid() != 0 {
		code, out, errs = run(t, t.Context(), "", args...)
	} else {
		if _, err := exec.LookPath("go"); err != nil {
			t.Skip("as root, the test builds the command to run it as nobody")
		}
		for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				t.Skipf("nobody cannot reach %s", d)
			}
		}
		bin := buildPortside(t, dir)
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code = cmd.ProcessState.ExitCode()
		if err != nil && code < 0 {
			t.Fatal(err)
		}
		out, errs = o.String(), e.String()
	}
	oneLine(t, code, 2, out, errs, "--chat-data "+ro+": cannot write in the folder: permission denied")
}

// TestForkTLSOneCertificate: under fork, every connection is served with
// the one self-signed certificate whose fingerprint the parent logged.
func TestForkTLSOneCertificate(t *testing.T) {
	_, addrs, errb := startCmd(t, []string{"echo/tls"}, "echo", "--engine", "fork", "--tls-self-signed", "--listen", "127.0.0.1:0")
	// The log line comes before the banner, but through a pipe of its own.
	var m []string
	for deadline := time.Now().Add(30 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		m = regexp.MustCompile(`sha256=([0-9a-f]{64})`).FindStringSubmatch(errb.String())
	}
	if m == nil {
		t.Fatalf("no fingerprint logged:\n%s", errb.String())
	}
	for i := range 3 {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addrs["echo/tls"], &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(c.ConnectionState().PeerCertificates[0].Raw)
		c.Write([]byte("x"))
		b := make([]byte, 1)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, rerr := c.Read(b)
		c.Close()
		if got := hex.EncodeToString(sum[:]); got != m[1] {
			t.Errorf("connection %d was served certificate %s; the log said %s", i, got, m[1])
		}
		if rerr != nil || b[0] != 'x' {
			t.Errorf("connection %d: echo %q, %v", i, b, rerr)
		}
	}
}
