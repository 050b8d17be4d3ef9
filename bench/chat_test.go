package bench_test

import (
	"bufio"
	"encoding/json"
	"github.com/portside/portside/internal/testkit"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portside/portside/bench"
	"github.com/portside/portside/chat"
	"github.com/portside/portside/server"
)

// startChat serves a real chat hub, flood control off, under the epoll
// engine on a loopback port until the test ends.
func startChat(t *testing.T) string {
	t.Helper()
	hub := chat.New(chat.Options{FloodRate: -1})
	testkit.Background(t, "hub", hub.Run)
	return testkit.Serve(t, "epoll", &server.Service{Name: "chat", Handler: hub.Handler()})
}

func chatConfig(addr string) bench.ChatConfig {
	// Two senders, 5 ms apart each, over 400 ms: 40 messages each.
	return bench.ChatConfig{
		Addr: addr, Members: 6, Senders: 2, Rate: 200,
		Warmup: 100 * time.Millisecond, Duration: 300 * time.Millisecond, Timeout: 5 * time.Second,
	}
}

func runChat(t *testing.T, cfg bench.ChatConfig) *bench.ChatReport {
	t.Helper()
	rep, err := bench.RunChat(t.Context(), cfg)
	if err != nil {
		t.Fatalf("RunChat: %v", err)
	}
	return rep
}

func TestChat(t *testing.T) {
	addr := startChat(t)
	for _, irc := range []bool{false, true} {
		name := map[bool]string{false: "door=line", true: "door=irc"}[irc]
		t.Run(name, func(t *testing.T) {
			cfg := chatConfig(addr)
			cfg.IRC = irc
			cfg.Size = 100
			cfg.PIDs = []int{os.Getpid()}
			rep := runChat(t, cfg)
			const sent = 80
			if rep.Joined != 6 || rep.Sent != sent || rep.Owed != sent*5 || rep.Delivered != sent*5 {
				t.Errorf("joined %d, sent %d, owed %d, delivered %d; want 6, %d, %d, %d",
					rep.Joined, rep.Sent, rep.Owed, rep.Delivered, sent, sent*5, sent*5)
			}
			if rep.Lost+rep.Duplicates+rep.OutOfOrder+rep.Malformed != 0 || len(rep.Errors) != 0 || !rep.OK() {
				t.Errorf("lost %d dup %d ooo %d malformed %d errors %v: want none",
					rep.Lost, rep.Duplicates, rep.OutOfOrder, rep.Malformed, rep.Errors)
			}
			// The warmup's 20 messages are checked, not measured.
			if rep.Measured != 60*5 || rep.Latency.Count != rep.Measured {
				t.Errorf("measured %d, latency count %d; want %d", rep.Measured, rep.Latency.Count, 60*5)
			}
			if rep.Deliveries <= 0 || rep.Server == nil || rep.Latency.P99 <= 0 {
				t.Errorf("deliveries/s %g, server %+v, p99 %g", rep.Deliveries, rep.Server, rep.Latency.P99)
			}
			var b strings.Builder
			if err := rep.WriteText(&b); err != nil || !strings.Contains(b.String(), "exactly once, in order: yes") {
				t.Errorf("text report %q, %v", b.String(), err)
			}
		})
	}
}

func TestChatIdle(t *testing.T) {
	addr := startChat(t)
	rep := runChat(t, bench.ChatConfig{Addr: addr, Members: 30, Rooms: 3, Idle: true, IRC: true,
		Duration: 50 * time.Millisecond, Timeout: 5 * time.Second, PIDs: []int{os.Getpid()}})
	if rep.Joined != 30 || len(rep.Errors) != 0 || rep.Memory == nil || rep.Memory.After <= 0 || rep.Sent != 0 {
		t.Errorf("joined %d, errors %v, memory %+v, sent %d; want 30, none, a figure, 0", rep.Joined, rep.Errors, rep.Memory, rep.Sent)
	}
}

// fakeChat is a line-protocol room that mistreats messages as told: fault
// sees the n-th message said (from 0) and returns how many times to deliver
// it to everyone else (0 drops it), or -1 to hold it back and deliver it
// after the next one.
type fakeChat struct {
	mu      sync.Mutex
	members []net.Conn
	n       int
	held    []byte
	fault   func(n int) int
	// kick, if positive, closes the connection of the kick-th member to
	// join when the first message is said.
	kick int
	// mute, if positive, stops delivering to the mute-th member to join
	// after its first 5 messages, and keeps its connection open.
	mute    int
	muted   int // messages delivered to it
	dropped int // deliveries dropped
}

func (f *fakeChat) serve(c net.Conn) {
	sc := bufio.NewScanner(c)
	if !sc.Scan() {
		return
	}
	nick := sc.Text()
	c.Write([]byte("Hello " + nick + "! Type /help for the commands.\r\n"))
	if !sc.Scan() {
		return
	}
	room := strings.TrimPrefix(sc.Text(), "/join ")
	f.mu.Lock()
	f.members = append(f.members, c)
	c.Write([]byte("* You are in " + room + " with " + nick + "\r\n"))
	f.mu.Unlock()
	for sc.Scan() {
		line := []byte("<" + nick + "> " + sc.Text() + "\r\n")
		f.mu.Lock()
		if f.kick > 0 && len(f.members) >= f.kick {
			f.members[f.kick-1].Close()
			f.kick = 0
		}
		times := f.fault(f.n)
		f.n++
		var out []byte
		switch {
		case times < 0:
			f.held = line
		case f.held != nil:
			out, f.held = append(line, f.held...), nil
		default:
			for range times {
				out = append(out, line...)
			}
		}
		for i, m := range f.members {
			if m == c {
				continue
			}
			if i == f.mute-1 {
				if f.muted == 5 {
					continue
				}
				f.muted++
			}
			if times == 0 {
				f.dropped++
			}
			m.Write(out)
		}
		f.mu.Unlock()
	}
}

func TestChatFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(n int) int
		kick  int
		mute  int
		check func(t *testing.T, rep *bench.ChatReport, f *fakeChat)
	}{
		{"honest", func(int) int { return 1 }, 0, 0, func(t *testing.T, rep *bench.ChatReport, f *fakeChat) {
			if !rep.OK() {
				t.Errorf("lost %d dup %d ooo %d errors %v: want a clean run", rep.Lost, rep.Duplicates, rep.OutOfOrder, rep.Errors)
			}
		}},
		{"drop", func(n int) int { return min(n%7, 1) }, 0, 0, func(t *testing.T, rep *bench.ChatReport, f *fakeChat) {
			if rep.Lost != int64(f.dropped) || rep.Lost == 0 || rep.Duplicates+rep.OutOfOrder != 0 {
				t.Errorf("lost %d dup %d ooo %d; want lost %d and nothing else", rep.Lost, rep.Duplicates, rep.OutOfOrder, f.dropped)
			}
			// Gaps: later messages came, these never will.
			if rep.Unanswered != 0 || rep.PerMember.Starved != 0 {
				t.Errorf("%d unanswered, %d starved: want gaps only", rep.Unanswered, rep.PerMember.Starved)
			}
		}},
		{"duplicate", func(n int) int { return 1 + min(n%5, 1) }, 0, 0, func(t *testing.T, rep *bench.ChatReport, f *fakeChat) {
			if rep.Duplicates == 0 || rep.Lost+rep.OutOfOrder != 0 {
				t.Errorf("lost %d dup %d ooo %d; want duplicates only", rep.Lost, rep.Duplicates, rep.OutOfOrder)
			}
		}},
		{"swap", func(n int) int {
			if n%6 == 2 {
				return -1
			}
			return 1
		}, 0, 0, func(t *testing.T, rep *bench.ChatReport, f *fakeChat) {
			// The last message held back may never be let out.
			if rep.OutOfOrder == 0 || rep.Duplicates != 0 || rep.Lost > 5 {
				t.Errorf("lost %d dup %d ooo %d; want out of order only", rep.Lost, rep.Duplicates, rep.OutOfOrder)
			}
		}},
		{"kick", func(int) int { return 1 }, 4, 0, func(t *testing.T, rep *bench.ChatReport, f *fakeChat) {
			if rep.Errors["closed"] != 1 || rep.Lost == 0 || rep.OK() {
				t.Errorf("errors %v, lost %d; want one closed member and its losses", rep.Errors, rep.Lost)
			}
			if rep.Unanswered != 0 {
				t.Errorf("%d unanswered: a broken connection's losses are not", rep.Unanswered)
			}
		}},
		// A member the server stops serving, its connection open: what it
		// is owed after its 5th message is unanswered, and it starved.
		{"starve", func(int) int { return 1 }, 0, 6, func(t *testing.T, rep *bench.ChatReport, f *fakeChat) {
			if rep.Unanswered != 75 || rep.Lost != 75 || rep.OK() || len(rep.Errors) != 0 {
				t.Errorf("unanswered %d, lost %d, errors %v; want 75, 75, none, and not OK", rep.Unanswered, rep.Lost, rep.Errors)
			}
			if p := rep.PerMember; p.Starved != 1 || p.Min != 5 || p.Connections != 5 {
				t.Errorf("per member %+v: want the muted one of 5 listeners starved, with 5", p)
			}
			var b strings.Builder
			rep.WriteText(&b)
			if !strings.Contains(b.String(), "(unanswered 75)") || !strings.Contains(b.String(), "(1 of 5 starved)") {
				t.Errorf("the text report does not show it:\n%s", b.String())
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeChat{fault: tc.fault, kick: tc.kick, mute: tc.mute}
			_, addr := startRaw(t, f.serve)
			cfg := chatConfig(addr)
			cfg.Senders = 1
			cfg.Dialers = 1                      // members join in order: the kicked one is not the sender
			cfg.Timeout = 300 * time.Millisecond // the drain waits this long for what never comes
			rep := runChat(t, cfg)
			if rep.Joined != 6 || rep.Sent != 80 {
				t.Fatalf("joined %d, sent %d; want 6, 80", rep.Joined, rep.Sent)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			tc.check(t, rep, f)
		})
	}
}

func TestCLIChat(t *testing.T) {
	addr := startChat(t)
	code, out, errs := portside(t, t.Context(), "chat", addr, "-c", "4", "--senders", "2", "--rate", "100",
		"-d", "200ms", "--warmup", "0s", "--json", "--irc")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	var rep bench.ChatReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json printed %q: %v", out, err)
	}
	if rep.Schema != bench.ChatSchema || rep.Door != "irc" || rep.Sent != 20 || rep.Delivered != 60 {
		t.Errorf("report: schema %q door %q sent %d delivered %d; want %q irc 20 60", rep.Schema, rep.Door, rep.Sent, rep.Delivered, bench.ChatSchema)
	}

	// A room that drops messages: the report is printed, the exit status
	// says the checks failed.
	f := &fakeChat{fault: func(n int) int { return min(n%3, 1) }}
	_, bad := startRaw(t, f.serve)
	code, out, errs = portside(t, t.Context(), "chat", bad, "-c", "3", "--rate", "100", "-d", "100ms", "--warmup", "0s", "--timeout", "200ms")
	if code != 1 || !strings.Contains(out, "exactly once, in order: NO") || !strings.Contains(errs, "exactly once") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, a report and a verdict", code, out, errs)
	}
}

func TestCLIChatUsage(t *testing.T) {
	const a = "127.0.0.1:9"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"chat"}, "missing ADDR"},
		{[]string{"chat", a, "b:2"}, `unexpected argument "b:2"`},
		{[]string{"chat", a}, "--rate is required"},
		{[]string{"chat", a, "--rate", "10", "-c", "1"}, "at least 2 members"},
		{[]string{"chat", a, "--rate", "10", "-c", "3", "--senders", "4"}, "--senders 4"},
		{[]string{"chat", a, "--rate", "10", "--senders", "0"}, "--senders 0"},
		{[]string{"chat", a, "--rate", "10", "-d", "0s"}, "-d 0s"},
		{[]string{"chat", a, "--rate", "10", "--rooms", "2"}, "only with --idle"},
		{[]string{"chat", a, "--idle", "-c", "3", "--rooms", "4"}, "--rooms 4"},
		{[]string{"chat", a, "--rate", "10", "--pipeline", "2"}, "--pipeline: not for chat"},
		{[]string{"chat", a, "--rate", "10", "--size", "5000"}, "--size 5000"},
		{[]string{"chat", a, "--rate", "10", "--room", "a b"}, "want a plain name"},
		{[]string{"chat", "noport", "--rate", "10"}, "missing port"},
		{[]string{"chat", a, "--rate", "10", "--server-pid", "x"}, `--server-pid "x"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := portside(t, t.Context(), tc.args...)
			if code != 2 || !strings.Contains(errs, tc.want) || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errs, tc.want)
			}
		})
	}
}

// TestChatAlso: with --also, members are dealt over the nodes given, and
// the exactly-once check still covers every member. The second "node" is a
// relay to the same hub, counting who came through it.
func TestChatAlso(t *testing.T) {
	addr := startChat(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var relayed atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			relayed.Add(1)
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	cfg := chatConfig(addr)
	cfg.Also = []string{ln.Addr().String()}
	rep := runChat(t, cfg)
	if rep.Joined != 6 || rep.Delivered != rep.Owed || !rep.OK() {
		t.Errorf("joined %d, delivered %d of %d, ok %v; want all", rep.Joined, rep.Delivered, rep.Owed, rep.OK())
	}
	// The first dial of each address only checks it answers.
	if got := relayed.Load() - 1; got != 3 {
		t.Errorf("%d of 6 members came through the second node, want 3", got)
	}
}
