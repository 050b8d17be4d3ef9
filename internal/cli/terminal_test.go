package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConnectOnTerminal types into `portside connect` on a real terminal
// (tmux) and reads the screen, as a person would.
func TestConnectOnTerminal(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Fatal("tmux not found: install tmux (scripts/test does)")
	}
	addrs := serve(t, []string{"echo/tcp"}, "echo", "--listen", "127.0.0.1:0", "--shell")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	tm := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, tmux, append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	done := filepath.Join(t.TempDir(), "exit-status")
	shell := fmt.Sprintf("PORTSIDE_CLI_TEST_MAIN=1 %q connect --crlf %s; echo $? > %q; sleep 60", exe, addrs["echo/tcp"], done)
	tm("new-session", "-d", "-x", "100", "-y", "20", "sh", "-c", shell)
	defer exec.Command(tmux, "-S", sock, "kill-server").Run()

	screen := func(want string) string {
		t.Helper()
		var s string
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
			s = tm("capture-pane", "-p")
			if strings.Contains(s, want) {
				return s
			}
			time.Sleep(50 * time.Millisecond) // polling a screen: nothing to wait on
		}
		t.Fatalf("screen never showed %q; it shows:\n%s", want, s)
		return ""
	}
	screen("Welcome to the portside echo shell")
	tm("send-keys", "hello from a terminal", "Enter")
	screen("Echo: hello from a terminal")
	tm("send-keys", "quit", "Enter")
	screen("Bye.")
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(done); err == nil {
			if got := strings.TrimSpace(string(b)); got != "0" {
				t.Errorf("connect exited %s after the server closed, want 0", got)
			}
			return
		}
	}
	t.Fatal("connect did not exit after the server closed")
}
