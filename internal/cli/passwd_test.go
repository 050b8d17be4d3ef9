package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
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
