package chat_test

import (
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/chat/store"
	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/server"
)

// blocked is how long a test lets the server show it answers a command
// while the message before it cannot be committed. An answer that waits
// for the message, as it should, never comes in this time, however slow
// the machine.
const blocked = time.Second

// startHistory runs a hub on a SQLite history in a folder of its own,
// with the default fsync policy, served by the named engine.
func startHistory(t *testing.T, name string) (addr, dir string) {
	t.Helper()
	dir = t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ = startChat(t, name, chat.Options{Backend: st}, server.Limits{})
	return addr, dir
}

// answeredWhileBlocked waits up to blocked for p to receive want, and
// reports whether it did.
func answeredWhileBlocked(p *testkit.Peer, want string) bool {
	deadline := time.Now().Add(blocked)
	for time.Now().Before(deadline) {
		if p.Has(want) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p.Has(want)
}

// before checks that p received first before second.
func before(t *testing.T, p *testkit.Peer, first, second string) {
	t.Helper()
	s := p.Transcript()
	i, j := strings.Index(s, first), strings.Index(s, second)
	if i < 0 || j < 0 || i > j {
		t.Errorf("%s did not get %q before %q; got:\n%s", p.Name, first, second, s)
	}
}

// TestPingAfterMessage: a client that sends a message and then PING, in
// one write, is answered PONG only once the other members have been shown
// the message, as bots and test harnesses that synchronise with PING
// expect. The history's write lock is held by another connection, so the
// message cannot be committed: no PONG may come meanwhile.
func TestPingAfterMessage(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		addr, dir := startHistory(t, name)
		a := dial(t, addr, "a")
		a.Send("NICK a", "USER a 0 * :A", "JOIN #c")
		a.Expect(" 366 a #c ")
		b := dial(t, addr, "b")
		b.Send("NICK b", "USER b 0 * :B", "JOIN #c")
		b.Expect(" 366 b #c ")
		a.Expect(":b!b@127.0.0.1 JOIN #c\r\n")

		release := testkit.LockHistory(t, dir)
		a.Write("PRIVMSG #c :hi\r\nPING x\r\n")
		if answeredWhileBlocked(a, "PONG") {
			t.Error("PING answered before the message before it reached the room")
		}
		release()
		a.Expect(" PONG portside x\r\n")
		// b's own PING is answered after whatever was sent to b before.
		b.Send("PING y")
		b.Expect(" PONG portside y\r\n")
		before(t, b, ":a!a@127.0.0.1 PRIVMSG #c :hi\r\n", " PONG portside y\r\n")

		// A run of messages to one room is not held up, and the PING
		// after them waits for them all.
		a.Write("PRIVMSG #c :one\r\nPRIVMSG #c :two\r\nPRIVMSG #c :three\r\nPING z\r\n")
		a.Expect(" PONG portside z\r\n")
		b.Send("PING w")
		b.Expect(" PONG portside w\r\n")
		before(t, b, "PRIVMSG #c :three\r\n", " PONG portside w\r\n")
		before(t, b, "PRIVMSG #c :two\r\n", "PRIVMSG #c :three\r\n")
	})
}

// TestLineCommandAfterMessage is TestPingAfterMessage on the line door: a
// person's /who after a line said waits for the line to reach the room,
// and so does a move to another room (the room is told of the message
// before the part).
func TestLineCommandAfterMessage(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		addr, dir := startHistory(t, name)
		a := dial(t, addr, "a")
		a.Send("a")
		a.Expect("* You are in lobby with 1: a\r\n")
		b := dial(t, addr, "b")
		b.Send("b")
		b.Expect("* You are in lobby with 2: a, b\r\n")

		release := testkit.LockHistory(t, dir)
		a.Write("hi\r\n/who\r\n/join dev\r\n")
		if answeredWhileBlocked(a, "* In lobby") {
			t.Error("/who answered before the line before it reached the room")
		}
		if b.Has("* a left lobby") {
			t.Error("the room was told of a's leaving before of a's message")
		}
		release()
		a.Expect("* In lobby (2): @a, b\r\n")
		a.Expect("* a joined dev\r\n")
		b.Expect("<a> hi\r\n")
		b.Expect("* a left lobby\r\n")
	})
}
