package chat_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"github.com/portside/portside/internal/testkit"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/engine"
	"github.com/portside/portside/server"
)

var update = flag.Bool("update", false, "rewrite golden files")

// pinned is a test clock.
var pinned = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// startChat runs a hub and serves it with the named engine on a loopback
// port until the test ends.
func startChat(t *testing.T, name string, o chat.Options, lim server.Limits) (string, *chat.Hub) {
	t.Helper()
	if o.Now == nil {
		o.Now = (&clock{now: pinned}).Now
	}
	if o.FloodRate == 0 {
		o.FloodRate = -1
	}
	hub := chat.New(o)
	testkit.Background(t, "hub", hub.Run)
	return testkit.Serve(t, name, &server.Service{Name: "chat", Handler: hub.Handler(), Limits: lim}), hub
}

// peer is one test client.
type peer = testkit.Peer

func dial(t *testing.T, addr, name string) *peer { return testkit.Dial(t, addr, name) }

func golden(t *testing.T, name string, peers ...*peer) {
	t.Helper()
	var b strings.Builder
	for _, p := range peers {
		fmt.Fprintf(&b, "=== %s\n%s", p.Name, strings.ReplaceAll(p.Transcript(), "\r\n", "\n"))
	}
	testkit.Golden(t, filepath.Join("testdata", name), []byte(b.String()), *update)
}

func TestLineTranscript(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		addr, _ := startChat(t, name, chat.Options{GreetDelay: -1}, server.Limits{})
		bob := dial(t, addr, "bob")
		bob.Expect("What is your name?")
		bob.Send("bob")
		bob.Expect("* You are in lobby with 1: bob\r\n")

		alice := dial(t, addr, "alice")
		alice.Expect("What is your name?")
		alice.Send("alice")
		alice.Expect("with 2: alice, bob\r\n")
		bob.Expect("* alice joined lobby\r\n")

		alice.Send("hello everyone")
		bob.Expect("<alice> hello everyone\r\n")
		bob.Send("/me waves")
		alice.Expect("* bob waves\r\n")
		alice.Send("/who")
		alice.Expect("* In lobby (2): alice, @bob\r\n")
		alice.Send("/rooms")
		alice.Expect("* Rooms: lobby (2)\r\n")
		bob.Send("/msg alice psst")
		alice.Expect("*bob* psst\r\n")
		bob.Expect("-> *alice* psst\r\n")
		alice.Send("/msg nobody x")
		alice.Expect("! No one is called nobody.\r\n")
		alice.Send("/nick alicia")
		alice.Expect("* alice is now known as alicia\r\n")
		bob.Expect("* alice is now known as alicia\r\n")
		bob.Send("/nick ALICIA")
		bob.Expect("! The name ALICIA is taken.\r\n")
		alice.Send("/history 5")
		alice.Expect("* End of history.\r\n")
		alice.Send("/frob", "/join", "//slash", "/history x")
		bob.Expect("<alicia> /slash\r\n")
		alice.Expect("! Usage: /history [N]\r\n")

		bob.Send("/join dev")
		bob.Expect("* You are in dev with 1: bob\r\n")
		alice.Expect("* bob left lobby\r\n")
		bob.Send("/part", "hi", "caf\xe9", "/help")
		bob.Expect("* bob left dev\r\n")
		bob.Expect("Anything else is said in the room")

		carol := dial(t, addr, "carol")
		carol.Expect("What is your name?")
		carol.Send("Alicia", "bad name!", "carol")
		carol.Expect("* You are in lobby with 2: alicia, carol\r\n")
		carol.Expect("[Jan 02 03:04:05] <alicia> /slash\r\n")
		alice.Expect("* carol joined lobby\r\n")
		carol.Send("/quit bye")
		carol.Closed()
		alice.Expect("* carol quit (Quit: bye)\r\n")
		alice.Send("/quit")
		alice.Closed()
		bob.Send("/rooms")
		bob.Expect("* No rooms yet")
		bob.Send("/quit")
		bob.Closed()
		golden(t, "line.golden", alice, bob, carol)
	})
}

// TestLineMove: /join on the line door leaves the room the person is in
// before entering the new one, for them and for the rooms' members; a
// join that fails leaves them where they were. /rooms separates rooms with
// commas; /history in a room with nothing said says so.
func TestLineMove(t *testing.T) {
	addr, _ := startChat(t, engine.Default, chat.Options{GreetDelay: -1, MaxRoomMembers: 1}, server.Limits{})
	bob := dial(t, addr, "bob")
	bob.Send("bob")
	bob.Expect("* You are in lobby with 1: bob\r\n")
	bob.Send("/join dev")
	bob.Expect("* bob left lobby\r\n* bob joined dev\r\n* You are in dev with 1: bob\r\n")
	bob.Send("/history")
	bob.Expect("* No messages in dev yet.\r\n")

	ann := dial(t, addr, "ann")
	ann.Send("ann")
	ann.Expect("* You are in lobby with 1: ann\r\n")
	ann.Send("/rooms")
	ann.Expect("* Rooms: dev (1), lobby (1)\r\n")
	ann.Send("/join dev") // full: one member a room
	ann.Expect("! dev is full.\r\n")
	ann.Send("/who", "one line")
	ann.Expect("* In lobby (1): @ann\r\n")
	// The line is kept once the backend has it, which ann is not told:
	// ask until it is there, each answer awaited.
	for i := 0; ; i++ {
		ann.Send("/history")
		ann.Eventually(func(s string) bool {
			return strings.Count(s, "* No messages in lobby yet.")+strings.Count(s, "* The last message of lobby:") > i
		})
		if ann.Has("* The last message of lobby:") {
			break
		}
		if i == 1000 {
			t.Fatal("the line was never kept")
		}
	}
	ann.Expect("<ann> one line\r\n* End of history.\r\n")
	if bob.Has("ann") {
		t.Errorf("bob, in dev, heard of ann:\n%s", bob.Transcript())
	}
}

func TestIRCTranscript(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		addr, _ := startChat(t, name, chat.Options{GreetDelay: time.Hour, MOTD: []string{"Be kind."}, MaxRooms: 3}, server.Limits{})
		a := dial(t, addr, "irc alice")
		a.Send("CAP LS 302", "NICK alice", "USER al 0 * :Alice Liddell")
		a.Expect("CAP * LS :batch draft/chathistory message-tags server-time\r\n")
		a.Send("CAP REQ :server-time message-tags bogus", "CAP REQ :server-time message-tags", "CAP LIST", "CAP END")
		a.Expect(":portside 376 alice :End of /MOTD command.\r\n")
		a.Send("PING :abc", "JOIN #Lobby,#dev,bad", "MODE #lobby", "MODE #lobby b", "MODE #lobby +o alice", "MODE alice", "MODE alice +i")
		a.Expect(":portside PONG portside abc\r\n")
		a.Expect(":portside 403 alice bad :No such channel\r\n")
		a.Expect(":portside 368 alice #lobby :End of channel ban list\r\n")
		a.Expect(":portside 221 alice +\r\n")

		b := dial(t, addr, "irc bob")
		b.Send("NICK Alice", "USER bob 0 * :Bob", "NICK bob")
		b.Expect(":portside 433 * Alice :Nickname is already in use\r\n")
		b.Expect(":portside 376 bob :End of /MOTD command.\r\n")
		b.Send("JOIN #lobby")
		b.Expect(":portside 366 bob #lobby :End of /NAMES list\r\n")
		a.Expect(":bob!bob@127.0.0.1 JOIN #lobby\r\n")

		a.Send("PRIVMSG #lobby :hello, world", "PRIVMSG #lobby :\x01ACTION waves\x01", "NOTICE #lobby :a notice")
		b.Expect(":alice!al@127.0.0.1 NOTICE #lobby :a notice\r\n")
		b.Send("TOPIC #lobby :Tea at four", "TOPIC #lobby", "PRIVMSG alice :private word", "PRIVMSG nobody :x", "PRIVMSG #nowhere :x", "PRIVMSG #dev :not in it")
		a.Expect(":bob!bob@127.0.0.1 TOPIC #lobby :Tea at four\r\n")
		a.Expect(":bob!bob@127.0.0.1 PRIVMSG alice :private word\r\n")
		b.Expect(":portside 404 bob #dev :Cannot send to channel\r\n")

		a.Send("AWAY :at tea")
		a.Expect(":portside 306 alice :You have been marked as being away\r\n")
		b.Send("PRIVMSG alice :you there?", "WHOIS alice", "WHO #lobby", "NAMES #lobby", "LIST", "ISON alice nobody bob", "USERHOST alice", "FROB", "JOIN", "PRIVMSG", "PRIVMSG #lobby", "NICK 9lives", "NICK", "PASS x", "USER a b c d")
		b.Expect(":portside 462 bob :You may not reregister\r\n")
		b.Expect(":portside 462 bob :You may not reregister\r\n")
		a.Send("AWAY", "NICK alicia", "JOIN #a,#b")
		a.Expect(":portside 405 alicia #b :You have joined too many channels\r\n")
		b.Expect(":alice!al@127.0.0.1 NICK :alicia\r\n")
		a.Send("PART #dev,#a,#zzz :bye now", "PART #lobby")
		a.Expect(":portside 403 alicia #zzz :No such channel\r\n")
		b.Expect(":alicia!al@127.0.0.1 PART #lobby\r\n")
		b.Send("QUIT :see you")
		b.Closed()

		c := dial(t, addr, "irc carol")
		c.Send("CAP LS", "CAP REQ server-time", "NICK carol", "USER carol 0 * :Carol", "CAP END", "JOIN #lobby")
		c.Expect(":portside 366 carol #lobby :End of /NAMES list\r\n")
		c.Expect("@time=2026-01-02T03:04:05.000Z :alice!al@127.0.0.1 NOTICE #lobby :a notice\r\n")
		c.Send("QUIT")
		c.Closed()
		a.Send("QUIT")
		a.Closed()
		golden(t, "irc.golden", a, b, c)
	})
}

func TestUnregistered(t *testing.T) {
	addr, _ := startChat(t, engine.Default, chat.Options{GreetDelay: time.Hour, Password: "sesame"}, server.Limits{})
	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"command before registering", []string{"NICK x", "JOIN #a"}, ":portside 451 * :You have not registered\r\n"},
		{"no password", []string{"NICK x", "USER x 0 * :x"}, ":portside 464 * :Password incorrect\r\nERROR :Closing Link: 127.0.0.1 (Bad password)\r\n"},
		{"wrong password", []string{"PASS open", "NICK x", "USER x 0 * :x"}, ":portside 464 * :Password incorrect\r\n"},
		{"right password", []string{"PASS sesame", "NICK x", "USER x 0 * :x"}, ":portside 001 x :Welcome to the portside IRC network, x!x@127.0.0.1\r\n"},
		{"line login, wrong", []string{"x", "open"}, "Password?\r\n! Wrong password. Bye.\r\n"},
		{"line login, right", []string{"y", "sesame"}, "Password?\r\nHello y!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := dial(t, addr, tc.name)
			p.Send(tc.lines...)
			p.Expect(tc.want)
		})
	}
}

// TestSlowMember: one member stops reading. The others keep getting every
// message promptly; the slow one is disconnected, and the others are told
// why.
func TestSlowMember(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		addr, _ := startChat(t, name, chat.Options{Replay: -1, MaxMessage: 1000}, server.Limits{MaxQueue: 64 << 10})
		login := func(p *peer, nick string) {
			p.Send(nick)
			p.Expect("* You are in lobby with")
		}
		const fast = 3
		var fasts []*peer
		for i := range fast {
			p := dial(t, addr, fmt.Sprintf("f%d", i))
			login(p, p.Name)
			fasts = append(fasts, p)
		}
		// The slow member reads nothing, with a small socket buffer so
		// that the server's queue for it fills soon.
		var d net.Dialer
		sc, err := d.DialContext(t.Context(), "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		sc.(*net.TCPConn).SetReadBuffer(4096)
		fmt.Fprint(sc, "slow\r\n")
		fasts[0].Expect("* slow joined lobby\r\n")

		pub := dial(t, addr, "pub")
		login(pub, "pub")
		// Publish in batches, each once the fast members have the one
		// before: they keep up, the slow one falls behind.
		pad := strings.Repeat("x", 900)
		n := 0
		for !fasts[0].Has("* slow quit (send queue exceeded)\r\n") {
			if n > 100000 {
				t.Fatal("the slow member is still connected after 100,000 messages")
			}
			var b strings.Builder
			for range 10 {
				fmt.Fprintf(&b, "%d %d %s\r\n", n, time.Now().UnixNano(), pad)
				n++
			}
			if _, err := io.WriteString(pub.Conn, b.String()); err != nil {
				t.Fatal(err)
			}
			if n > 10 {
				for _, p := range fasts {
					p.Expect(fmt.Sprintf("<pub> %d ", n-11))
				}
			}
		}
		pub.Send("done")
		for _, p := range fasts {
			if !p.Has("* slow quit (send queue exceeded)\r\n") {
				p.Expect("* slow quit (send queue exceeded)\r\n")
			}
			p.Expect("<pub> done\r\n")
			lat := checkMessages(t, p, n)
			slices.Sort(lat)
			p99 := lat[len(lat)*99/100]
			t.Logf("%s: %d messages, p99 publish-to-delivery %v", p.Name, len(lat), p99)
			if p99 > 2*time.Second {
				t.Errorf("%s: p99 latency %v while a member was stuck", p.Name, p99)
			}
		}
	})
}

// checkMessages checks that p was shown messages 0..n-1 of pub in order,
// and returns their latencies.
func checkMessages(t *testing.T, p *peer, n int) []time.Duration {
	t.Helper()
	var lat []time.Duration
	next := 0
	all := p.Transcript()
	reads := p.Reads()
	end := 0
	for _, l := range strings.SplitAfter(all, "\r\n") {
		end += len(l)
		var i int
		var sentAt int64
		if _, err := fmt.Sscanf(l, "<pub> %d %d", &i, &sentAt); err != nil {
			continue
		}
		if i != next {
			t.Fatalf("%s: message %d after %d", p.Name, i, next-1)
		}
		next++
		r, _ := slices.BinarySearchFunc(reads, end, func(r testkit.Read, end int) int { return r.End - end })
		lat = append(lat, time.Duration(reads[r].At.UnixNano()-sentAt))
	}
	if next != n {
		t.Fatalf("%s: got %d messages of %d", p.Name, next, n)
	}
	return lat
}

// TestPythonIRC: a real IRC client library (python3-irc) and a person on
// the line door talk in one room.
func TestPythonIRC(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import irc.client").Run(); err != nil {
		t.Fatalf("python3-irc is needed (scripts/test installs it): %v", err)
	}
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		addr, _ := startChat(t, name, chat.Options{GreetDelay: time.Hour}, server.Limits{})
		lina := dial(t, addr, "lina")
		lina.Send("lina")
		lina.Expect("* You are in lobby with 1: lina\r\n")

		host, port, _ := net.SplitHostPort(addr)
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, python, "testdata/ircpeer.py", host, port)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lina.Expect("* pyirc joined lobby\r\n")
		lina.Expect("<pyirc> hello from python\r\n")
		lina.Send("hello from the line", "/me waves", "/msg pyirc psst")
		lina.Expect("<pyirc> got it\r\n")
		lina.Expect("* pyirc quit (Quit: bye)\r\n")
		events, _ := io.ReadAll(stdout)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("ircpeer.py: %v\nstdout:\n%s\nstderr:\n%s", err, events, stderr.String())
		}
		want := []string{
			`["welcome", "pyirc"]`,
			`["join", "pyirc", "#lobby"]`,
			`["names", "#lobby", ["@lina", "pyirc"]]`,
			`["pubmsg", "lina", "#lobby", "hello from the line"]`,
			`["action", "lina", "#lobby", "waves"]`,
			`["privmsg", "lina", "psst"]`,
			`["disconnect"]`,
		}
		// A private message is not kept, so it does not wait for the
		// history's commit and may overtake room messages sent before it.
		got := strings.Split(strings.TrimSpace(string(events)), "\n")
		if len(got) == len(want) {
			slices.Sort(got[3:6])
			slices.Sort(want[3:6])
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("the IRC client saw:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

func ircLogin(t *testing.T, p *peer, nick string) {
	t.Helper()
	p.Send("NICK "+nick, "USER "+nick+" 0 * :"+nick)
	p.Expect(" 001 " + nick + " ")
	p.Expect(" 422 " + nick + " ")
}

// TestPingAndIdle: the hub pings silent IRC clients, disconnects those that
// do not answer, and disconnects line users idle too long; peers see why.
func TestPingAndIdle(t *testing.T) {
	clk := &clock{now: pinned}
	addr, hub := startChat(t, engine.Default, chat.Options{Now: clk.Now, GreetDelay: time.Hour, PingInterval: time.Minute, IdleTimeout: 10 * time.Minute}, server.Limits{})
	watcher := dial(t, addr, "watcher")
	ircLogin(t, watcher, "watcher")
	watcher.Send("JOIN #lobby")
	watcher.Expect(" 366 watcher #lobby ")
	answers := dial(t, addr, "answers")
	ircLogin(t, answers, "answers")
	answers.Send("JOIN #lobby")
	answers.Expect(" 366 answers #lobby ")
	silent := dial(t, addr, "silent")
	ircLogin(t, silent, "silent")
	silent.Send("JOIN #lobby")
	silent.Expect(" 366 silent #lobby ")
	line := dial(t, addr, "line")
	line.Send("line")
	line.Expect("* You are in lobby with 4")
	watcher.Expect(":line!line@127.0.0.1 JOIN #lobby\r\n")

	clk.Add(time.Minute)
	hub.Sweep()
	for _, p := range []*peer{watcher, answers, silent} {
		p.Expect("PING portside\r\n")
	}
	watcher.Send("PONG portside")
	answers.Send("PONG portside")
	answers.Send("PING x")
	answers.Expect("PONG portside x\r\n")
	watcher.Send("PING x")
	watcher.Expect("PONG portside x\r\n")
	clk.Add(time.Minute)
	hub.Sweep()
	silent.Expect("ERROR :Closing Link: 127.0.0.1 (ping timeout: 2m0s)\r\n")
	silent.Closed()
	watcher.Eventually(func(s string) bool {
		return strings.Contains(s, ":silent!silent@127.0.0.1 QUIT :ping timeout: 2m0s\r\n")
	})
	for _, p := range []*peer{watcher, answers} {
		p.Eventually(func(s string) bool { return strings.Count(s, "PING portside\r\n") == 2 })
		p.Send("PONG portside", "PING y")
		p.Eventually(func(s string) bool { return strings.Contains(s, "PONG portside y\r\n") })
	}

	clk.Add(8 * time.Minute)
	hub.Sweep()
	line.Expect("* Disconnected: idle timeout\r\n")
	line.Closed()
	watcher.Eventually(func(s string) bool { return strings.Contains(s, ":line!line@127.0.0.1 QUIT :idle timeout\r\n") })
	// Silent for 8 minutes but answering: pinged again, not gone.
	answers.Eventually(func(s string) bool { return strings.Count(s, "PING portside\r\n") == 3 })
	if answers.Has("ERROR") {
		t.Errorf("a client that answered pings was disconnected:\n%s", answers.Transcript())
	}
}

// TestFlood: past its burst a client's lines are dropped with a notice; a
// client that keeps on is disconnected. The lines that logged in count.
func TestFlood(t *testing.T) {
	// The burst lets the login lines (a name; NICK and USER), the first
	// command and two messages through.
	for door, burst := range map[string]int{"line": 4, "irc": 5} {
		t.Run(door, func(t *testing.T) {
			addr, _ := startChat(t, engine.Default, chat.Options{GreetDelay: time.Hour, FloodRate: 1, FloodBurst: burst}, server.Limits{})
			w := dial(t, addr, "watcher")
			w.Send("watcher")
			w.Expect("* You are in lobby")
			p := dial(t, addr, "flooder")
			if door == "line" {
				p.Send("flooder")
				p.Expect("* You are in lobby")
				p.Send("/who", "one", "two", "three")
				p.Expect("! Slow down: flood control dropped that line.\r\n")
			} else {
				ircLogin(t, p, "flooder")
				p.Send("JOIN #lobby", "PRIVMSG #lobby :one", "PRIVMSG #lobby :two", "PRIVMSG #lobby :three")
				p.Expect(":portside NOTICE flooder :*** Flood control: your PRIVMSG was dropped; slow down.\r\n")
			}
			w.Expect("<flooder> two\r\n")
			for range 5 {
				p.Send("more")
			}
			p.Closed()
			w.Expect("* flooder quit (excess flood)\r\n")
			if w.Has("three") {
				t.Errorf("a dropped line was delivered:\n%s", w.Transcript())
			}
		})
	}
}

func TestLimits(t *testing.T) {
	addr, _ := startChat(t, engine.Default, chat.Options{GreetDelay: time.Hour, MaxRoomMembers: 2, MaxMessage: 10}, server.Limits{})
	a := dial(t, addr, "a")
	a.Send("a")
	a.Expect("* You are in lobby with 1: a\r\n")
	b := dial(t, addr, "b")
	ircLogin(t, b, "b")
	b.Send("JOIN #lobby", "PRIVMSG #lobby :0123456789", "PRIVMSG #lobby :0123456789x", "PRIVMSG #lobby :caf\xe9")
	b.Expect(":portside 404 b #lobby :Message too long (at most 10 bytes)\r\n")
	b.Expect(":portside FAIL PRIVMSG INVALID_UTF8 :Message rejected: it is not valid UTF-8\r\n")
	a.Expect("<b> 0123456789\r\n")
	a.Send("0123456789x")
	a.Expect("! Message too long: at most 10 bytes.\r\n")
	c := dial(t, addr, "c")
	c.Send("c")
	c.Expect("! lobby is full.\r\n")
	d := dial(t, addr, "d")
	ircLogin(t, d, "d")
	d.Send("JOIN #lobby")
	d.Expect(":portside 471 d #lobby :Cannot join channel (+l)\r\n")
}

// TestDrain: on shutdown each door says goodbye its own way, and what was
// said just before is still delivered.
func TestDrain(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		hub := chat.New(chat.Options{Now: (&clock{now: pinned}).Now, GreetDelay: time.Hour, FloodRate: -1})
		hctx, hcancel := context.WithCancel(t.Context())
		hdone := make(chan error, 1)
		go func() { hdone <- hub.Run(hctx) }()
		eng, err := engine.New(name, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		s := &server.Service{Name: "chat", Handler: hub.Handler()}
		ln, err := server.Listen(ctx, eng, "tcp", "127.0.0.1:0", "chat")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- eng.Serve(ctx, ln, s) }()
		addr := ln.Addr().String()

		l := dial(t, addr, "line")
		l.Send("line")
		l.Expect("* You are in lobby")
		i := dial(t, addr, "irc")
		ircLogin(t, i, "irc")
		i.Send("JOIN #lobby")
		l.Expect("* irc joined lobby\r\n")
		i.Send("PRIVMSG #lobby :last words")
		l.Expect("<irc> last words\r\n")
		cancel()
		l.Expect("* Server shutting down. Bye.\r\n")
		i.Expect("ERROR :Server shutting down\r\n")
		l.Closed()
		i.Closed()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		hcancel()
		if err := <-hdone; err != nil {
			t.Errorf("hub: %v", err)
		}
	})
}

func TestRefuse(t *testing.T) {
	addr, _ := startChat(t, engine.Default, chat.Options{GreetDelay: time.Hour}, server.Limits{MaxConns: 1})
	first := dial(t, addr, "first")
	first.Send("first")
	first.Expect("Hello first!")
	second := dial(t, addr, "second")
	second.Expect("ERROR :Server full, try again later (server: too many connections)\r\n")
	second.Closed()
}

func TestChathistory(t *testing.T) {
	addr, _ := startChat(t, engine.Default, chat.Options{GreetDelay: time.Hour, Replay: -1}, server.Limits{})
	a := dial(t, addr, "a")
	ircLogin(t, a, "a")
	a.Send("JOIN #lobby")
	a.Expect(" 366 a #lobby ")
	b := dial(t, addr, "b")
	b.Send("CAP LS 302", "CAP REQ :batch draft/chathistory message-tags server-time", "NICK b", "USER b 0 * :b", "CAP END")
	b.Expect(" 005 b ")
	b.Expect("CHATHISTORY=100 ")
	b.Expect(" 422 b ")
	b.Send("CHATHISTORY LATEST #lobby * 10")
	b.Expect("FAIL CHATHISTORY INVALID_TARGET LATEST #lobby :Not a channel you are in\r\n")
	b.Send("JOIN #lobby")
	b.Expect(" 366 b #lobby ")
	for _, m := range []string{"one", "two", "three", "four"} {
		a.Send("PRIVMSG #lobby :" + m)
	}
	b.Expect("PRIVMSG #lobby :four\r\n")
	b.Send("CHATHISTORY LATEST #lobby * 2")
	const tags = "time=2026-01-02T03:04:05.000Z;msgid=lobby/"
	b.Expect(":portside BATCH +h1 chathistory #lobby\r\n" +
		"@batch=h1;" + tags + "3 :a!a@127.0.0.1 PRIVMSG #lobby :three\r\n" +
		"@batch=h1;" + tags + "4 :a!a@127.0.0.1 PRIVMSG #lobby :four\r\n" +
		":portside BATCH -h1\r\n")
	b.Send("CHATHISTORY BEFORE #lobby msgid=lobby/3 5")
	b.Expect(":portside BATCH +h2 chathistory #lobby\r\n" +
		"@batch=h2;" + tags + "1 :a!a@127.0.0.1 PRIVMSG #lobby :one\r\n" +
		"@batch=h2;" + tags + "2 :a!a@127.0.0.1 PRIVMSG #lobby :two\r\n" +
		":portside BATCH -h2\r\n")
	b.Send("CHATHISTORY LATEST #lobby msgid=lobby/3 5")
	b.Expect(":portside BATCH +h3 chathistory #lobby\r\n" +
		"@batch=h3;" + tags + "4 :a!a@127.0.0.1 PRIVMSG #lobby :four\r\n" +
		":portside BATCH -h3\r\n")
	b.Send("CHATHISTORY AROUND #lobby * 5", "CHATHISTORY BEFORE #lobby timestamp=2026 5")
	b.Expect("FAIL CHATHISTORY INVALID_PARAMS AROUND :Only LATEST and BEFORE are supported\r\n")
	b.Expect("FAIL CHATHISTORY INVALID_MSGREFTYPE BEFORE timestamp=2026 :References are msgid=ROOM/SEQ, or *\r\n")
	a.Send("CHATHISTORY LATEST #lobby * 1")
	a.Expect(":portside 421 a CHATHISTORY :Unknown command\r\n")
}

// TestNetcat talks to the line door the way a person would, with nc.
func TestNetcat(t *testing.T) {
	nc, err := exec.LookPath("nc")
	if err != nil {
		t.Fatal("nc not found: install netcat-openbsd (scripts/test does)")
	}
	addr, _ := startChat(t, engine.Default, chat.Options{}, server.Limits{})
	other := dial(t, addr, "other")
	other.Send("other")
	other.Expect("* You are in lobby")
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nc, "-N", host, port)
	cmd.Stdin = strings.NewReader("ana\nhello from nc\n/who\n/quit\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nc: %v", err)
	}
	for _, want := range []string{"Hello ana!", "* In lobby (2): ana, @other\r\n", "Bye.\r\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("nc printed %q, without %q", out, want)
		}
	}
	// Both, in either order: a quit is shown at once, a message once kept.
	other.Eventually(func(s string) bool {
		return strings.Contains(s, "<ana> hello from nc\r\n") && strings.Contains(s, "* ana quit (Quit)\r\n")
	})
}
