package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/portside/portside/internal/testkit"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"golang.org/x/sys/unix"

	"github.com/portside/portside/engine"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestMain lets the test binary stand in for the portside command, so tests
// can run it as a real process and send it real signals.
func TestMain(m *testing.M) {
	if os.Getenv("PORTSIDE_CLI_TEST_MAIN") == "1" {
		if os.Getenv("PORTSIDE_CLI_TEST_DENY_URING") == "1" {
			if err := testkit.DenyIOUringSetup(unix.EPERM); err != nil {
				fmt.Fprintln(os.Stderr, "seccomp:", err)
				os.Exit(3)
			}
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func run(t *testing.T, ctx context.Context, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(ctx, args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", name+".golden"), []byte(got), *update)
}

func TestHelp(t *testing.T) {
	code, out, _ := run(t, t.Context(), "", "--help")
	if code != 0 {
		t.Errorf("portside --help: exit %d, want 0", code)
	}
	golden(t, "help", out)
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := run(t, t.Context(), "", c.name, "--help")
			if code != 0 || errs != "" {
				t.Errorf("exit %d, stderr %q; want 0 and nothing", code, errs)
			}
			golden(t, "help-"+c.name, out)
		})
	}
	t.Run("chat passwd", func(t *testing.T) {
		code, out, errs := run(t, t.Context(), "", "chat", "passwd", "--help")
		if code != 0 || errs != "" {
			t.Errorf("exit %d, stderr %q; want 0 and nothing", code, errs)
		}
		golden(t, "help-chat-passwd", out)
	})
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "Usage:"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"echo", "--no-such-flag"}, "flag provided but not defined: --no-such-flag"},
		{[]string{"echo", "--lines", "--shell"}, "exclude each other"},
		{[]string{"echo", "--engine", "steam"}, `unknown engine "steam"`},
		{[]string{"echo", "--log-level", "loud"}, "bad --log-level"},
		{[]string{"connect"}, "missing HOST:PORT"},
		{[]string{"connect", "a:1", "b:2"}, `unexpected argument "b:2"`},
		{[]string{"chat", "--web-origin", "http://chat.example"}, "--web-origin is for the browser door: it needs --web"},
		{[]string{"chat", "--fsync", "false"}, `invalid value "false" for flag --fsync: want grouped, always or never`},
		{[]string{"serve", "--chat-fsync", "sometimes"}, `invalid value "sometimes" for flag --chat-fsync: want grouped, always or never`},
		{[]string{"chat", "--listen", "127.0.0.1:0", "--data", "-", "--web", "127.0.0.1:0", "--web-origin", "null"}, `--web-origin: origin "null" is not scheme://host[:port]`},
		{[]string{"serve", "--echo-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--chat-listen", "127.0.0.1:0", "--chat-data", "-",
			"--chat-web-origin", "https://chat.example/"}, `--chat-web-origin: origin "https://chat.example/" is not scheme://host[:port]`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, errs := run(t, t.Context(), "", tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errs, tc.want) {
				t.Errorf("stderr %q does not say %q", errs, tc.want)
			}
		})
	}
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	code, _, errs := run(t, t.Context(), "", "echo", "--listen", addr)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(errs, addr) || !strings.Contains(errs, "address already in use") {
		t.Errorf("stderr %q should name %s and say it is in use", errs, addr)
	}
}

// serve runs a portside command in-process until the test ends, and
// returns the addresses it announced, by service and scheme.
func serve(t *testing.T, want []string, args ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, args, strings.NewReader(""), pw, &errb)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("portside %v: exit %d, stderr:\n%s", args, code, errb.String())
		}
	})
	return readAnnouncements(t, pr, func() string { return errb.String() }, want...)
}

var announce = regexp.MustCompile(`^(\S+)\s+(\w+)://(\S+?)(/metrics)?( |$)`)

// readAnnouncements reads "service scheme://addr" lines until each of want
// ("echo/tcp", "metrics/http") has said where it is.
func readAnnouncements(t *testing.T, r io.Reader, stderr func() string, want ...string) map[string]string {
	t.Helper()
	got := make(map[string]string)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, r)
	}()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("command ended before announcing; stderr:\n%s", stderr())
			}
			m := announce.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			got[m[1]+"/"+m[2]] = m[3]
			all := true
			for _, w := range want {
				all = all && got[w] != ""
			}
			if all {
				go func() {
					for range lines {
					}
				}()
				return got
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no announcement in 30s; stderr:\n%s", stderr())
		}
	}
}

func TestConnectRoundTrip(t *testing.T) {
	addrs := serve(t, []string{"echo/tcp"}, "echo", "--listen", "127.0.0.1:0", "--shell")
	code, out, errs := run(t, t.Context(), "hello\nquit\n", "connect", "--crlf", addrs["echo/tcp"])
	if code != 0 {
		t.Fatalf("connect: exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(out, "Echo: hello\r\n") || !strings.HasSuffix(out, "Bye.\r\n") {
		t.Errorf("connect printed %q", out)
	}
}

func TestConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, _, errs := run(t, t.Context(), "", "connect", addr)
	if code != 1 || !strings.Contains(errs, "connection refused") {
		t.Errorf("exit %d, stderr %q; want 1 and a clear message", code, errs)
	}
}

func TestConnectTLS(t *testing.T) {
	addrs := serve(t, []string{"echo/tls"}, "echo", "--listen", "127.0.0.1:0", "--tls-self-signed")
	addr := addrs["echo/tls"]
	code, out, errs := run(t, t.Context(), "secret\n", "connect", "--tls", "--insecure", addr)
	if code != 0 || out != "secret\n" {
		t.Errorf("exit %d, out %q, stderr %q", code, out, errs)
	}
	code, _, errs = run(t, t.Context(), "x\n", "connect", "--tls", addr)
	if code != 1 || !strings.Contains(errs, "certificate") || !strings.Contains(errs, "add --insecure") {
		t.Errorf("without --insecure: exit %d, stderr %q; want a certificate error pointing to --insecure", code, errs)
	}
}

func TestMetrics(t *testing.T) {
	addrs := serve(t, []string{"echo/tcp", "metrics/http"}, "serve", "--echo-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0",
		"--chat-listen", "127.0.0.1:0", "--chat-data", t.TempDir())
	c, err := net.Dial("tcp", addrs["echo/tcp"])
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "12345")
	buf := make([]byte, 5)
	io.ReadFull(c, buf)
	c.Close()

	resp, err := http.Get("http://" + addrs["metrics/http"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for _, name := range []string{"portside_connections_open", "portside_connections_total",
		"portside_connections_refused_total", "portside_received_bytes_total", "portside_sent_bytes_total",
		"portside_slow_consumers_total", "portside_handler_errors_total", "portside_handler_panics_total"} {
		if families[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	found := false
	for _, m := range families["portside_received_bytes_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["service"] == "echo" && labels["engine"] == engine.Default {
			found = true
			if v := m.GetCounter().GetValue(); v != 5 {
				t.Errorf("echo received %v bytes, want 5", v)
			}
		}
	}
	if !found {
		t.Errorf("no received-bytes counter labelled service=echo and the default engine")
	}
}

// TestSIGTERMUnderLoad: a real portside process under load gets SIGTERM,
// delivers every echo it owes, closes cleanly and exits 0.
func TestSIGTERMUnderLoad(t *testing.T) {
	addrs, stop := startProcess(t, []string{"echo/udp"}, "echo", "--listen", "127.0.0.1:0", "--log-level", "warn")
	addr := addrs["echo/tcp"]

	const clients = 50
	var wg sync.WaitGroup
	started := make(chan struct{}, clients)
	results := make(chan error, clients)
	for i := range clients {
		wg.Go(func() { results <- loadUntilClosed(addr, byte(i), started) })
	}
	for range clients {
		<-started
	}
	stop() // SIGTERM while every client is mid-exchange; exit 0 expected
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Error(err)
		}
	}
}

// loadUntilClosed sends batches of 16 messages and reads each batch's echo
// before the next, like a pipelining client, until the server closes: what
// comes back must be exactly what was sent, ending in a clean EOF.
func loadUntilClosed(addr string, seed byte, started chan<- struct{}) error {
	var once sync.Once
	ready := func() { once.Do(func() { started <- struct{}{} }) }
	defer ready() // never leave the test waiting, whatever happens
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	batch := bytes.Repeat([]byte{'a' + seed%26}, 16*1000)
	buf := make([]byte, len(batch))
	for round := 0; ; round++ {
		if _, err := c.Write(batch); err != nil {
			return fmt.Errorf("client %d, round %d: send: %v", seed, round, err)
		}
		n, err := io.ReadFull(c, buf)
		if !bytes.Equal(buf[:n], batch[:n]) {
			return fmt.Errorf("client %d, round %d: echo differs from what was sent", seed, round)
		}
		ready()
		switch {
		case err == nil:
			continue
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			if round == 0 {
				return fmt.Errorf("client %d: closed before any echo", seed)
			}
			return nil // the server stopped between or within batches, cleanly
		default:
			return fmt.Errorf("client %d, round %d: after %d bytes of the batch: %v (want a clean EOF)", seed, round, n, err)
		}
	}
}

// startPortside runs the test binary as the portside command in a process
// of its own and returns it with the addresses it announced (each of want).
// The process is killed when the test ends, if still running.
func startPortside(t *testing.T, want string, args ...string) (*exec.Cmd, map[string]string) {
	t.Helper()
	cmd, addrs, _ := startCmd(t, []string{want}, args...)
	return cmd, addrs
}

func startCmd(t *testing.T, want []string, args ...string) (*exec.Cmd, map[string]string, *testkit.SyncBuffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "PORTSIDE_CLI_TEST_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errb := new(testkit.SyncBuffer)
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, readAnnouncements(t, stdout, errb.String, want...), errb
}

// startProcess is startPortside with a stop function that sends SIGTERM and
// checks for exit 0.
func startProcess(t *testing.T, want []string, args ...string) (map[string]string, func()) {
	t.Helper()
	cmd, addrs, errb := startCmd(t, want, args...)
	return addrs, func() { t.Helper(); stopCmd(t, cmd, errb) }
}

// stopCmd sends SIGTERM to a command startCmd started and checks that it
// exits 0.
func stopCmd(t *testing.T, cmd *exec.Cmd, errb *testkit.SyncBuffer) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	waitExit(t, cmd, errb)
}

// waitExit waits for a command sent SIGTERM to exit 0.
func waitExit(t *testing.T, cmd *exec.Cmd, errb *testkit.SyncBuffer) {
	t.Helper()
	werr := make(chan error, 1)
	go func() { werr <- cmd.Wait() }()
	select {
	case err := <-werr:
		if err != nil {
			t.Errorf("after SIGTERM: %v (want exit 0); stderr:\n%s", err, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("still running 30s after SIGTERM")
	}
}

// TestEchoUnderEveryEngine runs the real command under each engine and has
// a shell session with it, including the fork engine, whose children are
// this same program started again.
// TestUringUnavailable runs the command with --engine uring where
// io_uring_setup is refused: it fails at start-up, saying why, rather than
// serving with another engine or not at all.
func TestUringUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "echo", "--engine", "uring", "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "PORTSIDE_CLI_TEST_MAIN=1", "PORTSIDE_CLI_TEST_DENY_URING=1")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1; stderr:\n%s", err, errb.String())
	}
	for _, want := range []string{"io_uring is unavailable", "io_uring_setup", "io_uring_disabled"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}

func TestEchoUnderEveryEngine(t *testing.T) {
	for _, name := range engine.Names() {
		t.Run("engine="+name, func(t *testing.T) {
			addrs, stop := startProcess(t, []string{"echo/tcp"}, "echo", "--engine", name, "--shell", "--listen", "127.0.0.1:0", "--log-level", "warn")
			for i := range 3 { // one after another, so iterative serves them all
				code, out, errs := run(t, t.Context(), fmt.Sprintf("round %d\nquit\n", i), "connect", "--crlf", addrs["echo/tcp"])
				if code != 0 || !strings.Contains(out, fmt.Sprintf("Echo: round %d\r\n", i)) || !strings.HasSuffix(out, "Bye.\r\n") {
					t.Errorf("session %d: exit %d, out %q, stderr %q", i, code, out, errs)
				}
			}
			stop()
		})
	}
}
