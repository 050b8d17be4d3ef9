package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestChatPasswd: `portside chat passwd` with the password piped in prints
// a hash that `portside chat --oper` (and serve's --chat-oper) accepts: the
// password makes an IRC client an operator, a wrong one does not, and both
// are logged with the address.
func TestChatPasswd(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), exe, "chat", "passwd")
	cmd.Env = append(os.Environ(), "PORTSIDE_CLI_TEST_MAIN=1")
	cmd.Stdin = strings.NewReader("open sesame\n")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("portside chat passwd: %v\n%s", err, errb.String())
	}
	hash := strings.TrimSpace(string(out))
	if !strings.HasPrefix(hash, "$2a$") || strings.Contains(hash, "open sesame") {
		t.Fatalf("portside chat passwd printed %q, want a bcrypt hash", out)
	}

	oper := func(t *testing.T, addr string) {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		r := bufio.NewReader(c)
		expect := func(want string) {
			t.Helper()
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("waiting for %q: %v", want, err)
				}
				if strings.Contains(l, want) {
					return
				}
			}
		}
		fmt.Fprint(c, "NICK ana\r\nUSER ana 0 * :Ana\r\n")
		expect(" 001 ana ")
		fmt.Fprint(c, "OPER admin open\r\n")
		expect(" 464 ana :Password incorrect\r\n")
		fmt.Fprint(c, "OPER admin :open sesame\r\n")
		expect(" 381 ana :You are now an IRC operator\r\n")
	}
	logged := func(t *testing.T, log func() string) {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			s := log()
			if strings.Contains(s, `msg="chat oper failed" service=chat addr=127.0.0.1 nick=ana name=admin`) &&
				strings.Contains(s, `msg="chat oper" service=chat addr=127.0.0.1 nick=ana name=admin`) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the log does not show both OPERs with the address:\n%s", s)
			}
		}
	}
	t.Run("chat", func(t *testing.T) {
		_, addrs, log := startCmd(t, []string{"chat/tcp"}, "chat", "--listen", "127.0.0.1:0", "--data", "-",
			"--password-delay", "100ms", "--oper", "admin:"+hash)
		oper(t, addrs["chat/tcp"])
		logged(t, log.String)
	})
	t.Run("serve", func(t *testing.T) {
		_, addrs, log := startCmd(t, []string{"chat/tcp"}, "serve", "--echo-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
			"--http-root", t.TempDir(), "--chat-listen", "127.0.0.1:0", "--chat-data", "-",
			"--chat-password-delay", "100ms", "--chat-oper", "admin:"+hash)
		oper(t, addrs["chat/tcp"])
		logged(t, log.String)
	})
}

// TestChatPasswdOnTerminal types a password into `portside chat passwd`
// on a real terminal (tmux): it is asked for twice and never shown, and
// the hash printed matches it.
func TestChatPasswdOnTerminal(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Fatal("tmux not found: install tmux (scripts/test does)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "tmux.sock")
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
	hashFile, done := filepath.Join(dir, "hash"), filepath.Join(dir, "exit-status")
	shell := fmt.Sprintf("PORTSIDE_CLI_TEST_MAIN=1 %q chat passwd > %q; echo $? > %q; sleep 60", exe, hashFile, done)
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
	screen("Password:")
	tm("send-keys", "open sesame", "Enter")
	screen("Again:")
	tm("send-keys", "open sesame", "Enter")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(done); err == nil {
			if got := strings.TrimSpace(string(b)); got != "0" {
				t.Fatalf("chat passwd exited %s, want 0; screen:\n%s", got, tm("capture-pane", "-p"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chat passwd did not exit; screen:\n%s", tm("capture-pane", "-p"))
		}
	}
	if s := tm("capture-pane", "-p"); strings.Contains(s, "sesame") {
		t.Errorf("the password was shown on the terminal:\n%s", s)
	}
	hash, err := os.ReadFile(hashFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := bcrypt.CompareHashAndPassword(bytes.TrimSpace(hash), []byte("open sesame")); err != nil {
		t.Errorf("the hash %q does not match the password typed: %v", hash, err)
	}
}
