package cli

import (
	"bufio"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portside/portside/internal/testkit/natstest"
)

// lineConn is a chat client on a socket that reads until it sees a line.
type lineConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialLines(t *testing.T, addr string) *lineConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &lineConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (l *lineConn) send(s string) {
	l.t.Helper()
	if _, err := l.c.Write([]byte(s)); err != nil {
		l.t.Fatal(err)
	}
}

// expect reads lines until one holds want.
func (l *lineConn) expect(want string) {
	l.t.Helper()
	var got []string
	for {
		s, err := l.br.ReadString('\n')
		if err != nil {
			l.t.Fatalf("no %q (%v); got:\n%s", want, err, strings.Join(got, ""))
		}
		if strings.Contains(s, want) {
			return
		}
		got = append(got, s)
	}
}

// TestChatCluster runs the real command as three chat nodes on one NATS
// server: a person on nc on one node and an IRC client on another see each
// other; the first node is killed, and the person, back on a third node,
// is replayed what was said.
func TestChatCluster(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	node := func() (*exec.Cmd, string) {
		cmd, addrs := startPortside(t, "chat/tcp", "chat", "--listen", "127.0.0.1:0", "--nats", ns.ClientURL(),
			"--log-level", "error")
		return cmd, addrs["chat/tcp"]
	}
	cmd1, addr1 := node()
	_, addr2 := node()

	ana := dialLines(t, addr1)
	ana.send("ana\r\n")
	ana.expect("* You are in lobby with 1: ana")
	bob := dialLines(t, addr2)
	bob.send("NICK bob\r\nUSER bob 0 * :Bob\r\nJOIN #lobby\r\n")
	bob.expect(" 366 bob #lobby ")
	ana.expect("* bob joined lobby")
	bob.send("PRIVMSG #lobby :hello from irc\r\n")
	ana.expect("<bob> hello from irc")
	ana.send("hello from nc\r\n")
	bob.expect(":ana!ana@127.0.0.1 PRIVMSG #lobby :hello from nc")
	// A private message does not go through the stream: it may overtake
	// a message to the room, so it is sent after.
	ana.send("/msg bob psst\r\n")
	ana.expect("-> *bob* psst")
	bob.expect(":ana!ana@127.0.0.1 PRIVMSG bob :psst")
	bob.send("WHOIS ana\r\nISON ana nobody\r\nWHO #lobby\r\n")
	bob.expect(" 311 bob ana ana 127.0.0.1 * ana")
	bob.expect(" 319 bob ana #lobby")
	bob.expect(" 318 bob ana ")
	bob.expect(" 303 bob ana\r")
	bob.expect(" 352 bob #lobby bob 127.0.0.1 portside bob H :0 Bob")
	bob.expect(" 352 bob #lobby ana 127.0.0.1 portside ana H :1 ana")

	// Node 1 dies; node 2's IRC client carries on, and ana, on a third
	// node, is replayed the room from the stream.
	if err := cmd1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd1.Wait()
	bob.send("PRIVMSG #lobby :after the crash\r\n")
	_, addr3 := node()
	ana2 := dialLines(t, addr3)
	ana2.send("ana2\r\n")
	ana2.expect("<bob> hello from irc")
	ana2.expect("<ana> hello from nc")
	ana2.expect("<bob> after the crash")
}
