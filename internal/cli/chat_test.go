package cli

import (
	"bufio"
	"fmt"
	"github.com/portside/portside/engine"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/chat/store"
)

var said = regexp.MustCompile(`^<(\w+)> (\S+)$`)

// chatter logs in on the line door as nick, says numbered lines at a
// steady rate (if talk), and records every message it is shown,
// in order, until the connection ends.
func chatter(t *testing.T, addr, nick string, talk bool, seen chan<- string) ([]string, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	fmt.Fprintf(c, "%s\n", nick)
	if talk {
		// A steady load: 20 lines every 10 ms, 2,000 a second.
		go func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			w := bufio.NewWriter(c)
			for i := 0; ; i++ {
				fmt.Fprintf(w, "%s-%d\n", nick, i)
				if i%20 == 19 {
					if w.Flush() != nil {
						return
					}
					<-tick.C
				}
			}
		}()
	}
	var got []string
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if m := said.FindStringSubmatch(strings.TrimSuffix(sc.Text(), "\r")); m != nil {
			got = append(got, m[2])
			select {
			case seen <- m[2]:
			default:
			}
		}
	}
	return got, nil
}

// TestChatCrash: a real portside chat under load is killed with SIGKILL;
// after a restart, every message any client was shown is in the history,
// in the order the clients saw, with no gaps in the sequence. So under
// each --fsync policy, the default (grouped: no message waits for an
// fsync) first: a commit is in SQLite's write-ahead log before its
// message is shown, and the log outlives the process.
func TestChatCrash(t *testing.T) {
	for _, policy := range []string{"", "always", "never"} {
		name := policy
		if name == "" {
			name = "default"
		}
		t.Run("fsync="+name, func(t *testing.T) { chatCrash(t, policy) })
	}
}

func chatCrash(t *testing.T, policy string) {
	dir := t.TempDir()
	// A deep send queue: the clients read as fast as they can, but under
	// the race detector they may fall behind their own flood of messages,
	// and this test is about history, not slow consumers.
	args := []string{"chat", "--listen", "127.0.0.1:0", "--data", dir, "--flood-rate", "0", "--keep", "-1",
		"--send-queue", "256000000", "--log-level", "error"}
	if policy != "" {
		args = append(args, "--fsync", policy)
	}
	cmd, addrs := startPortside(t, "chat/tcp", args...)
	addr := addrs["chat/tcp"]

	const talkers = 4
	seen := make(chan string, 1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	views := map[string][]string{}
	for i := range talkers + 1 {
		nick := fmt.Sprintf("n%d", i)
		wg.Go(func() {
			got, err := chatter(t, addr, nick, i < talkers, seen)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			views[nick] = got
			mu.Unlock()
		})
	}
	ended := make(chan struct{})
	go func() { wg.Wait(); close(ended) }()
	for range 4000 { // well under way
		select {
		case <-seen:
		case <-ended:
			t.Fatalf("every client was disconnected before the kill: %v", views)
		case <-time.After(60 * time.Second):
			t.Fatal("fewer than 4,000 deliveries in 60s")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	wg.Wait()

	// Restart: the server comes back with the history and a person can
	// read it.
	cmd, addrs = startPortside(t, "chat/tcp", args...)
	c, err := net.Dial("tcp", addrs["chat/tcp"])
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprint(c, "checker\n/history 3\n")
	out := bufio.NewReader(c)
	for {
		l, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("after restart, /history: %v", err)
		}
		if strings.HasPrefix(l, "* End of history.") {
			break
		}
	}
	c.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("restarted server: %v", err)
	}

	st, err := store.Open(dir, store.Options{KeepCount: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kept := make(chan []*chat.Msg, 1)
	st.History("lobby", 0, 1<<30, func(m []*chat.Msg, err error) {
		if err != nil {
			t.Error(err)
		}
		kept <- m
	})
	history := <-kept
	seq := map[string]uint64{}
	for i, m := range history {
		if m.Seq != uint64(i+1) {
			t.Fatalf("history has seq %d at position %d: a gap", m.Seq, i)
		}
		seq[m.Text] = m.Seq
	}
	total := 0
	for nick, got := range views {
		total += len(got)
		var last uint64
		for _, text := range got {
			s, ok := seq[text]
			if !ok {
				t.Fatalf("%s was shown %q, which is not in the history after the crash", nick, text)
			}
			if s <= last {
				t.Fatalf("%s saw %q (seq %d) after seq %d", nick, text, s, last)
			}
			last = s
		}
	}
	t.Logf("%d messages kept; clients were shown %d deliveries before the kill", len(history), total)
	if total < 4000 {
		t.Errorf("clients recorded only %d deliveries", total)
	}
}

func TestChatRefusesFork(t *testing.T) {
	code, _, errs := run(t, t.Context(), "", "chat", "--engine", "fork", "--listen", "127.0.0.1:0", "--data", "-")
	// One line, one prefix, naming the flag and the engines that can.
	want := "portside chat: --engine fork cannot run chat: it keeps state shared between connections, which this engine cannot offer; use --engine " +
		orList(engine.Able(engine.Needs{SharedState: true})) + "\n"
	if code != 2 || errs != want {
		t.Errorf("exit %d, stderr %q; want 2 and %q", code, errs, want)
	}
}

// TestChatGuardFlags: the flags for the login deadline, the per-address
// cap and the password wait reach the hub, under chat and, prefixed, under
// serve; wrong passwords are logged with the address.
func TestChatGuardFlags(t *testing.T) {
	readers := map[net.Conn]*bufio.Reader{}
	read := func(t *testing.T, c net.Conn, want string) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, err := readers[c].ReadString('\n')
		if got != want {
			t.Fatalf("got %q (%v), want %q", got, err, want)
		}
	}
	dial := func(t *testing.T, addr string) net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		readers[c] = bufio.NewReader(c)
		return c
	}
	t.Run("chat", func(t *testing.T) {
		_, addrs, log := startCmd(t, []string{"chat/tcp"}, "chat", "--listen", "127.0.0.1:0", "--data", "-",
			"--register-timeout", "1s", "--max-conns-per-ip", "1", "--per-ip-exempt-loopback=false",
			"--password", "sesame", "--password-delay", "1h")
		addr := addrs["chat/tcp"]
		first := dial(t, addr)
		fmt.Fprint(first, "ana\n") // before the greeting: none comes
		read(t, first, "Password?\r\n")
		second := dial(t, addr)
		read(t, second, "ERROR :Too many connections from your address, try again later\r\n")
		read(t, first, "* Disconnected: registration timed out after 1s\r\n")
		// Its place comes back once the server has closed it.
		deadline := time.Now().Add(10 * time.Second)
		for {
			c := dial(t, addr)
			fmt.Fprint(c, "bo\nguess\n")
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			all, _ := io.ReadAll(readers[c])
			if strings.Contains(string(all), "! Wrong password. Bye.\r\n") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("never let in again; last got %q", all)
			}
			time.Sleep(20 * time.Millisecond)
		}
		for !strings.Contains(log.String(), "chat wrong password") {
			if time.Now().After(deadline) {
				t.Fatalf("no log of the wrong password:\n%s", log.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(log.String(), "addr=127.0.0.1") {
			t.Errorf("the log does not name the address:\n%s", log.String())
		}
	})
	t.Run("serve", func(t *testing.T) {
		addrs := serve(t, []string{"chat/tcp"}, "serve", "--echo-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
			"--http-root", t.TempDir(), "--chat-listen", "127.0.0.1:0", "--chat-data", "-", "--chat-register-timeout", "1s")
		c := dial(t, addrs["chat/tcp"])
		read(t, c, "Welcome to portside chat. What is your name?\r\n")
		read(t, c, "ERROR :Closing Link: registration timed out after 1s\r\n")
	})
}
