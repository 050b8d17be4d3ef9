package cli

import (
	"os/exec"
	"syscall"
	"testing"

	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/internal/testkit/natstest"
)

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

	ana := testkit.Dial(t, addr1, "ana")
	ana.Write("ana\r\n")
	ana.Expect("* You are in lobby with 1: ana")
	bob := testkit.Dial(t, addr2, "bob")
	bob.Write("NICK bob\r\nUSER bob 0 * :Bob\r\nJOIN #lobby\r\n")
	bob.Expect(" 366 bob #lobby ")
	ana.Expect("* bob joined lobby")
	bob.Write("PRIVMSG #lobby :hello from irc\r\n")
	ana.Expect("<bob> hello from irc")
	ana.Write("hello from nc\r\n")
	bob.Expect(":ana!ana@127.0.0.1 PRIVMSG #lobby :hello from nc")
	// A private message does not go through the stream: it may overtake
	// a message to the room, so it is sent after.
	ana.Write("/msg bob psst\r\n")
	ana.Expect("-> *bob* psst")
	bob.Expect(":ana!ana@127.0.0.1 PRIVMSG bob :psst")
	bob.Write("WHOIS ana\r\nISON ana nobody\r\nWHO #lobby\r\n")
	bob.Expect(" 311 bob ana ana 127.0.0.1 * ana")
	bob.Expect(" 319 bob ana #lobby")
	bob.Expect(" 318 bob ana ")
	bob.Expect(" 303 bob ana\r")
	// H, and @ for the room's operator: ana, unless bob's node had not
	// yet heard of ana when bob joined.
	bob.Expect(" 352 bob #lobby bob 127.0.0.1 portside bob H")
	bob.Expect(" 352 bob #lobby ana 127.0.0.1 portside ana H")

	// Node 1 dies; node 2's IRC client carries on, and ana, on a third
	// node, is replayed the room from the stream.
	if err := cmd1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd1.Wait()
	bob.Write("PRIVMSG #lobby :after the crash\r\n")
	_, addr3 := node()
	ana2 := testkit.Dial(t, addr3, "ana2")
	ana2.Write("ana2\r\n")
	ana2.Expect("<bob> hello from irc")
	ana2.Expect("<ana> hello from nc")
	ana2.Expect("<bob> after the crash")
}
