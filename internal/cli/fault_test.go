package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"golang.org/x/crypto/bcrypt"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/internal/testkit"
)

// metric reads one unlabelled metric from a /metrics endpoint.
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	f := families[name]
	if f == nil || len(f.GetMetric()) != 1 {
		t.Fatalf("/metrics has no single %s", name)
	}
	m := f.GetMetric()[0]
	if m.GetGauge() != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

// others checks that serve's echo and HTTP services answer.
func others(t *testing.T, addrs map[string]string) {
	t.Helper()
	c := testkit.DialTCP(t, addrs["echo/tcp"], 30*time.Second)
	c.Write([]byte("still here"))
	if got := testkit.ReadN(t, c, 10); got != "still here" {
		t.Errorf("echo answered %q", got)
	}
	c.Close()
	resp, err := http.Get("http://" + addrs["http/http"] + "/chat")
	if err != nil {
		t.Fatalf("HTTP: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HTTP GET /chat: %s", resp.Status)
	}
}

// stopped sends SIGTERM and checks for exit 0.
func stopped(t *testing.T, cmd *exec.Cmd, errb *testkit.SyncBuffer) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	werr := make(chan error, 1)
	go func() { werr <- cmd.Wait() }()
	select {
	case err := <-werr:
		if err != nil {
			t.Fatalf("after SIGTERM: %v (want exit 0); stderr:\n%s", err, errb.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("still running 60s after SIGTERM")
	}
}

// until waits for one of two things: what ok says of the transcripts of
// a and b. Transcripts grow as the peers read; it looks again on each.
func until(t *testing.T, what string, a, b *testkit.Peer, ok func(a, b string) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok(a.Transcript(), b.Transcript()) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s in 60s; %s got:\n%s\n%s got:\n%s", what, a.Name, a.Transcript(), b.Name, b.Transcript())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const notKept = "was not kept and not delivered"

// TestServeFullDisk: portside serve with chat history on a real file
// system that fills up. Chat does not stop and neither does anything else:
// echo and HTTP answer, a sender is told a message was not kept and no one
// is shown it, metrics and the log say why; once space is freed, chat
// keeps and delivers again by itself. Started again on the full disk, serve
// starts, warning, and behaves the same.
func TestServeFullDisk(t *testing.T) {
	dir := testkit.Tmpfs(t, 4<<20)
	args := []string{"serve", "--echo-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--chat-listen", "127.0.0.1:0", "--chat-data", dir, "--chat-flood-rate", "0", "--chat-fsync=never",
		"--metrics", "127.0.0.1:0", "--log-level", "warn"}
	want := []string{"echo/tcp", "http/http", "chat/tcp", "metrics/http"}
	cmd, addrs, errb := startCmd(t, want, args...)

	login := func(nick string) *testkit.Peer {
		p := testkit.Dial(t, addrs["chat/tcp"], nick)
		p.Wait = 60 * time.Second
		p.Send(nick)
		p.Expect("* You are in lobby")
		return p
	}
	ana, bob := login("ana"), login("bob")
	ana.Send("before")
	bob.Expect("<ana> before\r\n")

	free := testkit.FillDisk(t, dir)
	// SQLite may fit a message or two in pages it has; then it refuses.
	for i := 0; !strings.Contains(ana.Transcript(), notKept); i++ {
		if i == 200 {
			t.Fatal("200 messages kept on a full disk")
		}
		text := fmt.Sprintf("full-%d", i)
		ana.Send(text)
		until(t, text+" delivered or refused", ana, bob, func(a, b string) bool {
			return strings.Contains(b, "<ana> "+text+"\r\n") || strings.Contains(a, notKept)
		})
	}
	ana.Expect("-portside- Your message to lobby " + notKept + ": chat history cannot be written (disk full). Try again later.\r\n")
	ana.Send("lost")
	ana.Expect(notKept)
	others(t, addrs)
	if v := metric(t, addrs["metrics/http"], "portside_chat_history_degraded"); v != 1 {
		t.Errorf("portside_chat_history_degraded %v on a full disk, want 1", v)
	}
	if v := metric(t, addrs["metrics/http"], "portside_chat_messages_not_kept_total"); v < 2 {
		t.Errorf("portside_chat_messages_not_kept_total %v, want at least 2", v)
	}
	if e := errb.String(); !strings.Contains(e, "level=ERROR") || !strings.Contains(e, "chat history cannot be written") || !strings.Contains(e, "disk full") {
		t.Errorf("the log does not say why:\n%s", e)
	}

	free()
	ana.Send("after")
	bob.Expect("<ana> after\r\n")
	if bob.Has("<ana> lost") {
		t.Errorf("bob was shown a message that was not kept:\n%s", bob.Transcript())
	}
	if v := metric(t, addrs["metrics/http"], "portside_chat_history_degraded"); v != 0 {
		t.Errorf("portside_chat_history_degraded %v after space came back, want 0", v)
	}
	stopped(t, cmd, errb)

	// Started on a full disk: serve starts, with a warning. (SQLite may
	// not even open the history without space for its WAL index: chat
	// then serves without a replay until space comes back.)
	free = testkit.FillDisk(t, dir)
	cmd, addrs, errb = startCmd(t, want, args...)
	if !strings.Contains(errb.String(), "little space left for chat history") {
		t.Errorf("no warning on starting with a full disk:\n%s", errb.String())
	}
	ana, bob = login("ana"), login("bob")
	ana.Send("refused")
	ana.Expect(notKept)
	others(t, addrs)
	free()
	ana.Send("kept")
	bob.Expect("<ana> kept\r\n")
	if bob.Has("<ana> refused") {
		t.Errorf("bob was shown a message that was not kept")
	}
	bob.Send("/history 10")
	bob.Expect("<ana> after\r\n") // the history from before is all there
	bob.Expect("<ana> kept\r\n")
	stopped(t, cmd, errb)
}

// TestDataLocked: a second chat server on a --data folder already served
// is refused at start, exit 1, with one line naming the first's process;
// the first goes on serving.
func TestDataLocked(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("open sesame"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	operHash := string(hash)
	dir := t.TempDir()
	cmd, addrs, errb := startCmd(t, []string{"chat/tcp"}, "serve", "--echo-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--chat-listen", "127.0.0.1:0", "--chat-data", dir, "--log-level", "warn", "--chat-password", "sesame",
		"--chat-oper", "admin:"+operHash)
	// A second server that started would serve until stopped: bounded.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	code, _, errs := run(t, ctx, "", "chat", "--listen", "127.0.0.1:0", "--data", dir)
	wantPID := fmt.Sprintf("pid %d: ", cmd.Process.Pid)
	if code != 1 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "is in use by "+wantPID) ||
		!strings.Contains(errs, " serve --echo-listen") || !strings.Contains(errs, dir) {
		t.Errorf("second server: exit %d, stderr %q; want 1 and one line naming the folder and %q with its command", code, errs, wantPID)
	}
	if strings.Contains(errs, "sesame") || !strings.Contains(errs, "--chat-password ***") {
		t.Errorf("the refusal shows the first server's password: %q", errs)
	}
	if strings.Contains(errs, "$2") || !strings.Contains(errs, "--chat-oper ***") {
		t.Errorf("the refusal shows the first server's operator hash: %q", errs)
	}
	p := testkit.Dial(t, addrs["chat/tcp"], "ana")
	p.Send("ana", "sesame")
	p.Expect("* You are in lobby")
	stopped(t, cmd, errb)
	// Free again once the first has stopped.
	_, stop := startProcess(t, []string{"chat/tcp"}, "chat", "--listen", "127.0.0.1:0", "--data", dir, "--log-level", "warn")
	stop()
}

// TestServeIsolates: under serve, a service that fails is logged and the
// others go on serving; serve then fails when it is stopped. A lone
// command's runner still stops everything when its service fails.
func TestServeIsolates(t *testing.T) {
	for _, isolate := range []bool{true, false} {
		t.Run(fmt.Sprint("isolate=", isolate), func(t *testing.T) {
			logs, out := new(testkit.SyncBuffer), new(testkit.SyncBuffer)
			e := &env{stdout: out, stderr: logs, g: globals{engine: engine.Default}}
			e.log = slog.New(slog.NewTextHandler(logs, nil))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r, err := e.runner(ctx)
			if err != nil {
				t.Fatal(err)
			}
			r.isolate = isolate
			if err := startEcho(r, echoConfig{listen: "127.0.0.1:0", maxLine: 1024}); err != nil {
				t.Fatal(err)
			}
			failed := make(chan struct{})
			broken := errors.New("broken: its listener is gone")
			r.go_(func() error { defer close(failed); return broken })
			<-failed
			waited := make(chan error, 1)
			go func() { waited <- r.wait() }()
			if !isolate {
				select {
				case err := <-waited:
					if !errors.Is(err, broken) {
						t.Errorf("wait: %v, want the failure", err)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("a lone command went on serving after its service failed")
				}
				return
			}
			// wait prints the banner once it runs.
			for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "echo ") && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			addrs := readAnnouncements(t, strings.NewReader(out.String()), logs.String, "echo/tcp")
			c := testkit.DialTCP(t, addrs["echo/tcp"], 30*time.Second)
			c.Write([]byte("ok?"))
			if got := testkit.ReadN(t, c, 3); got != "ok?" {
				t.Errorf("echo answered %q after another service failed", got)
			}
			c.Close()
			if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "broken: its listener is gone") {
				t.Errorf("the failure is not logged at error level:\n%s", l)
			}
			select {
			case err := <-waited:
				t.Fatalf("serve stopped when one service failed: %v", err)
			default:
			}
			cancel()
			if err := <-waited; !errors.Is(err, broken) {
				t.Errorf("once stopped: %v, want the failure reported", err)
			}
		})
	}
}
