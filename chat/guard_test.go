package chat_test

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/engine"
	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/server"
)

func dialFrom(t *testing.T, from, addr, name string) *peer {
	return testkit.DialFrom(t, from, addr, name)
}

// retry calls try until it reports success, for up to 10 s, and fails
// the test with what the last try got if it never does.
func retry(t *testing.T, try func() (ok bool, got string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, got := try()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after 10s; got %q", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRegisterTimeout: connections that do not log in in time are told why
// and closed, whatever they said or did not say, so that they cannot hold
// the server's places; then others get in.
func TestRegisterTimeout(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		const silent = 200
		addr, _ := startChat(t, name, chat.Options{
			Now: time.Now, RegisterTimeout: time.Second, GreetDelay: time.Hour, Password: "sesame",
		}, server.Limits{MaxConns: silent + 3})
		deadline := time.Now().Add(30 * time.Second)
		var conns []net.Conn
		for range silent {
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			conns = append(conns, c)
		}
		// One has given a name and not the password; one is an IRC
		// client that gave a nick and no USER; one a person who keeps
		// giving names that are not.
		named := dial(t, addr, "named")
		named.Send("ana")
		named.Expect("Password?")
		nickOnly := dial(t, addr, "nick only")
		nickOnly.Send("NICK ira")
		typing := dial(t, addr, "typing")
		typing.Send("!")
		typing.Expect("! A name is")

		for i, c := range conns {
			c.SetReadDeadline(deadline)
			b, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("silent connection %d: %v (got %q)", i, err, b)
			}
			if want := "ERROR :Closing Link: registration timed out after 1s\r\n"; string(b) != want {
				t.Fatalf("silent connection %d got %q, want %q", i, b, want)
			}
		}
		named.Expect("* Disconnected: registration timed out after 1s\r\n")
		named.Closed()
		nickOnly.Expect("ERROR :Closing Link: 127.0.0.1 (registration timed out after 1s)\r\n")
		nickOnly.Closed()
		typing.Closed()

		// The places are free again (once the engine has closed the
		// connections: soon after their clients see it, not at once),
		// and one who logs in in time stays.
		retry(t, func() (bool, string) {
			p := dial(t, addr, "in time")
			p.Conn.Write([]byte("PASS sesame\r\nNICK ina\r\nUSER ina 0 * :Ina\r\n")) // refused: a broken pipe, perhaps
			p.Eventually(func(s string) bool { return strings.Contains(s, "\r\n") })
			return p.Has(" 001 ina "), p.Transcript()
		})
	})
}

// TestFloodBeforeLogin: flood control counts a client's lines from the
// first, so a client cannot make the server answer line after line
// without logging in.
func TestFloodBeforeLogin(t *testing.T) {
	for _, tc := range []struct{ door, line, dropped, bye string }{
		{"line", "!", "! Slow down: flood control dropped that line.\r\n", "* Disconnected: excess flood\r\n"},
		{"irc", "JOIN #lobby", ":portside NOTICE * :*** Flood control: your JOIN was dropped; slow down.\r\n", "ERROR :Closing Link: 127.0.0.1 (excess flood)\r\n"},
		{"irc, lines that do not parse", ":", ":portside NOTICE * :*** Flood control: your line was dropped; slow down.\r\n", "ERROR :Closing Link: 127.0.0.1 (excess flood)\r\n"},
	} {
		t.Run(tc.door, func(t *testing.T) {
			addr, _ := startChat(t, engine.Default, chat.Options{GreetDelay: time.Hour, FloodRate: 1, FloodBurst: 3}, server.Limits{})
			p := dial(t, addr, "flooder")
			if tc.door != "line" {
				p.Send("NICK flooder")
			}
			for range 10 {
				p.Send(tc.line)
			}
			p.Expect(tc.dropped)
			p.Expect(tc.bye)
			p.Closed()
		})
	}
}

// TestMaxConnsPerIP: one address may hold only so many connections at
// once, over both doors; others are not held back, and a place is given
// back when a connection closes. Loopback is exempt unless asked.
func TestMaxConnsPerIP(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		addr, _ := startChat(t, name, chat.Options{GreetDelay: time.Hour, MaxConnsPerIP: 3, LimitLoopback: true}, server.Limits{})
		a := dial(t, addr, "a")
		a.Send("ana")
		a.Expect("Hello ana!")
		b := dial(t, addr, "b")
		ircLogin(t, b, "bo")
		c := dial(t, addr, "capabilities")
		c.Send("CAP LS 302")
		c.Expect(" CAP * LS ")
		refused := dial(t, addr, "refused")
		refused.Expect("ERROR :Too many connections from your address, try again later\r\n")
		refused.Closed()

		other := dialFrom(t, "127.0.0.2", addr, "other address")
		other.Send("olga")
		other.Expect("Hello olga!")

		a.Send("/quit")
		a.Closed()
		// The engine calls the handler's Close after the socket closes:
		// the place comes back soon after, not at once.
		retry(t, func() (bool, string) {
			p := dial(t, addr, "again")
			p.Conn.Write([]byte("again\r\n")) // refused: a broken pipe, perhaps
			p.Eventually(func(s string) bool { return strings.Contains(s, "\r\n") })
			return p.Has("Hello again!"), p.Transcript()
		})
	})
	t.Run("loopback exempt", func(t *testing.T) {
		addr, _ := startChat(t, engine.Default, chat.Options{GreetDelay: -1, MaxConnsPerIP: 1}, server.Limits{})
		for i := range 3 {
			dial(t, addr, "p"+string(rune('0'+i))).Expect("What is your name?")
		}
	})
}

// TestPasswordDelay: wrong passwords from one address make its next ones
// wait, longer after each, at every door; they are logged, a few lines
// for many; a right password still gets in after its wait, and another
// address is not held back.
func TestPasswordDelay(t *testing.T) {
	var log testkit.SyncBuffer
	const base, most = 20 * time.Millisecond, 100 * time.Millisecond
	addr, _ := startChat(t, engine.Default, chat.Options{
		Now: time.Now, GreetDelay: time.Hour, Password: "sesame",
		PasswordDelay: base, PasswordDelayMax: most, Logger: slog.New(slog.NewTextHandler(&log, nil)),
	}, server.Limits{})

	start := time.Now()
	const n = 50
	for i := range n {
		p := dial(t, addr, "guesser")
		if i%2 == 0 {
			p.Send("guesser", "guess")
			p.Expect("! Wrong password. Bye.\r\n")
		} else {
			p.Send("PASS guess", "NICK guesser", "USER g 0 * :g")
			p.Expect(":portside 464 * :Password incorrect\r\n")
		}
		p.Closed()
	}
	took := time.Since(start)
	// Each attempt after the first waited for its turn: 20, 40, 80 ms,
	// then 100 ms each, 4.74 s in all. Without the waits 50 attempts take
	// a few milliseconds.
	var least time.Duration
	for i, wait := 1, base; i < n; i++ {
		least += wait
		wait = min(2*wait, most)
	}
	if took < least*9/10 {
		t.Errorf("%d wrong passwords took %v; the waits alone are %v", n, took, least)
	}

	right := dial(t, addr, "right")
	right.Send("PASS sesame", "NICK right", "USER r 0 * :r")
	right.Expect(" 001 right ")

	lines := strings.Count(log.String(), "chat wrong password")
	if lines == 0 || lines > 8 || !strings.Contains(log.String(), "addr=127.0.0.1 failures=32") {
		t.Errorf("%d log lines for %d wrong passwords; want a few, naming the address and counting:\n%s", lines, n, log.String())
	}

	t.Run("another address", func(t *testing.T) {
		addr, _ := startChat(t, engine.Default, chat.Options{
			Now: time.Now, GreetDelay: time.Hour, Password: "sesame", PasswordDelay: time.Hour,
		}, server.Limits{})
		p := dial(t, addr, "guesser")
		p.Send("guesser", "guess")
		p.Expect("! Wrong password. Bye.\r\n")
		// 127.0.0.1 now waits an hour for its next try; 127.0.0.2 does not.
		o := dialFrom(t, "127.0.0.2", addr, "other")
		o.Send("other", "sesame")
		o.Expect("Hello other!")
		o.Send("/quit")
		o.Closed()
		o = dialFrom(t, "127.0.0.2", addr, "other again")
		o.Send("PASS sesame", "NICK other", "USER o 0 * :o")
		o.Expect(" 001 other ")
	})

	t.Run("forgotten", func(t *testing.T) {
		clk := &clock{now: pinned}
		addr, hub := startChat(t, engine.Default, chat.Options{
			Now: clk.Now, GreetDelay: time.Hour, Password: "sesame", PasswordDelay: time.Hour,
		}, server.Limits{})
		p := dial(t, addr, "guesser")
		p.Send("guesser", "guess")
		p.Expect("! Wrong password. Bye.\r\n")
		// Ten quiet minutes later the address starts afresh: its next
		// password is checked at once rather than in an hour.
		clk.Add(10 * time.Minute)
		hub.Sweep()
		p = dial(t, addr, "back")
		p.Send("back", "sesame")
		p.Expect("Hello back!")
	})
}
