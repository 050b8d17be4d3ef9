package cli

import (
	"syscall"
	"testing"

	"github.com/portside/portside/internal/testkit"
)

// TestChatModesCrash: a room's operators, modes and bans survive a kill -9
// of the real command: a mode change is kept before the messages said
// after it, so once someone was shown a message said after it, it holds
// after a restart.
func TestChatModesCrash(t *testing.T) {
	dir := t.TempDir()
	args := []string{"chat", "--listen", "127.0.0.1:0", "--data", dir, "--log-level", "error"}
	cmd, addrs := startPortside(t, "chat/tcp", args...)
	addr := addrs["chat/tcp"]

	ana := testkit.Dial(t, addr, "ana")
	ana.Send("ana", "/join dev")
	ana.Expect("* You are in dev with 1: ana\r\n")
	bob := testkit.Dial(t, addr, "bob")
	bob.Send("bob", "/join dev")
	bob.Expect("* You are in dev with 2: ana, bob\r\n")
	ana.Send("/ban carol", "/mute", "/mode +tl 10", "/voice bob")
	bob.Expect("* ana sets mode +v bob\r\n")
	ana.Send("sealed")
	bob.Expect("<ana> sealed\r\n")
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	ana.Closed()
	bob.Closed()

	_, addrs = startPortside(t, "chat/tcp", args...)
	addr = addrs["chat/tcp"]
	carol := testkit.Dial(t, addr, "carol")
	carol.Send("carol", "/join dev")
	carol.Expect("! You are banned from dev.\r\n")
	dan := testkit.Dial(t, addr, "dan")
	dan.Send("dan", "/join dev")
	dan.Expect("* You are in dev with 1: dan\r\n")
	dan.Send("who speaks?", "/mode", "/topic mine")
	dan.Expect("! dev is moderated")
	dan.Expect("* Modes of dev: +mntl 10\r\n")
	dan.Expect("! You are not an operator of dev.\r\n")
	ana = testkit.Dial(t, addr, "ana again")
	ana.Send("ana", "/join dev", "/who", "/mode +b")
	ana.Expect("* In dev (2): @ana, dan\r\n")
	ana.Expect("* Banned from dev: carol!*@* (by ana, ")
	bob = testkit.Dial(t, addr, "bob again")
	bob.Send("bob", "/join dev", "heard")
	ana.Expect("<bob> heard\r\n")
}
