package chat_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/engine"
	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/server"
)

// opers is a server operator "admin" whose password is "sesame", hashed at
// bcrypt's least cost to keep the tests quick.
func opers(t *testing.T) map[string]string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("sesame"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"admin": string(hash)}
}

// TestIRCOperTranscript: the operator commands on the IRC door, and the
// command table's 451 and 461.
func TestIRCOperTranscript(t *testing.T) {
	ops := opers(t)
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		addr, _ := startChat(t, name, chat.Options{GreetDelay: time.Hour, Opers: ops, PasswordDelay: 50 * time.Millisecond}, server.Limits{})
		a := dial(t, addr, "irc ana")
		a.Send("NICK ana", "OPER admin sesame", "WHOWAS bob", "USER ana 0 * :Ana")
		a.Expect(" 422 ana :MOTD File is missing\r\n")
		a.Send("OPER admin", "WHOWAS", "KILL", "KILL bob", "WALLOPS :hello", "OPER admin wrong")
		a.Expect(":portside 464 ana :Password incorrect\r\n")
		a.Send("OPER nobody sesame")
		a.Expect(":portside 464 ana :Password incorrect\r\n")
		a.Send("OPER admin sesame")
		a.Expect(":portside 381 ana :You are now an IRC operator\r\n")
		a.Send("MODE ana", "INFO", "JOIN #lobby")
		a.Expect(":portside 366 ana #lobby :End of /NAMES list\r\n")

		b := dial(t, addr, "irc bob")
		b.Send("NICK bob", "USER bob 0 * :Bob", "MODE bob +w", "JOIN #lobby")
		b.Expect(":portside 366 bob #lobby :End of /NAMES list\r\n")
		a.Expect(":bob!bob@127.0.0.1 JOIN #lobby\r\n")
		c := dial(t, addr, "irc carol")
		c.Send("NICK carol", "USER carol 0 * :Carol", "JOIN #lobby")
		c.Expect(":portside 366 carol #lobby :End of /NAMES list\r\n")
		a.Expect(":carol!carol@127.0.0.1 JOIN #lobby\r\n")
		b.Expect(":carol!carol@127.0.0.1 JOIN #lobby\r\n")
		c.Send("WALLOPS :me too", "KILL bob :why not")
		c.Expect(":portside 481 carol :Permission Denied- You're not an IRC operator\r\n")
		c.Expect(":portside 481 carol :Permission Denied- You're not an IRC operator\r\n")

		a.Send("WALLOPS :tea at four")
		a.Expect(":ana!ana@127.0.0.1 WALLOPS :tea at four\r\n")
		b.Expect(":ana!ana@127.0.0.1 WALLOPS :tea at four\r\n")
		a.Send("KILL nobody", "KILL carol :spamming")
		a.Expect(":portside 401 ana nobody :No such nick/channel\r\n")
		c.Expect("ERROR :Closing Link: 127.0.0.1 (Killed (ana (spamming)))\r\n")
		c.Closed()
		a.Expect(":carol!carol@127.0.0.1 QUIT :Killed (ana (spamming))\r\n")
		b.Expect(":carol!carol@127.0.0.1 QUIT :Killed (ana (spamming))\r\n")

		b.Send("WHOWAS carol", "WHOWAS nobody", "WHOIS ana", "LUSERS", "MODE bob", "MODE bob -w+w-w")
		b.Expect(":bob MODE bob -w\r\n")
		b.Send("MODE bob")
		b.Expect(":portside 221 bob +\r\n")
		a.Send("MODE ana -o", "MODE ana", "WALLOPS :gone", "KILL bob")
		a.Expect(":portside 481 ana :Permission Denied- You're not an IRC operator\r\n")
		a.Expect(":portside 481 ana :Permission Denied- You're not an IRC operator\r\n")
		a.Send("QUIT")
		a.Closed()
		b.Expect(":ana!ana@127.0.0.1 QUIT :Quit\r\n")
		b.Send("QUIT")
		b.Closed()
		golden(t, "irc-oper.golden", a, b, c)
	})
}

// TestOperPause: a wrong OPER is answered only after the address's
// password wait, doubling with each one, an unknown name as a wrong
// password; each attempt is logged with the address.
func TestOperPause(t *testing.T) {
	var log testkit.SyncBuffer
	const delay = 400 * time.Millisecond
	addr, _ := startChat(t, engine.Default, chat.Options{
		GreetDelay: time.Hour, Opers: opers(t), Now: time.Now, PasswordDelay: delay,
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
	}, server.Limits{})
	p := dial(t, addr, "ana")
	ircLogin(t, p, "ana")
	for n, try := range []string{"OPER admin wrong", "OPER ghost sesame"} {
		start := time.Now()
		p.Send(try)
		p.Expect(":portside 464 ana :Password incorrect\r\n")
		if took, least := time.Since(start), delay<<n; took < least {
			t.Errorf("%s answered after %v, want at least %v", try, took, least)
		}
	}
	p.Send("OPER admin sesame")
	p.Expect(":portside 381 ana :You are now an IRC operator\r\n")
	for _, want := range []string{
		`level=WARN msg="chat oper failed" addr=127.0.0.1 nick=ana name=admin`,
		`level=WARN msg="chat oper failed" addr=127.0.0.1 nick=ana name=ghost`,
		`level=INFO msg="chat oper" addr=127.0.0.1 nick=ana name=admin`,
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log has no %q:\n%s", want, log.String())
		}
	}
}

// TestLineOper: the operator commands on the line door; an IRC client
// with +w gets WALLOPS from there.
func TestLineOper(t *testing.T) {
	var log testkit.SyncBuffer
	addr, _ := startChat(t, engine.Default, chat.Options{
		GreetDelay: -1, Opers: opers(t), PasswordDelay: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
	}, server.Limits{})
	lina := dial(t, addr, "lina")
	lina.Send("lina")
	lina.Expect("* You are in lobby with 1: lina\r\n")
	ana := dial(t, addr, "ana")
	ana.Send("ana")
	ana.Expect("* You are in lobby with 2: ana, lina\r\n")
	w := dial(t, addr, "irc wes")
	ircLogin(t, w, "wes")
	w.Send("MODE wes +w")
	w.Expect(":wes MODE wes +w\r\n")

	ana.Send("/kill lina", "/wallops hi")
	ana.Expect("! permission denied: you are not a server operator\r\n")
	ana.Expect("! permission denied: you are not a server operator\r\n")
	ana.Send("/oper admin nope", "/who")
	ana.Expect("! Wrong operator name or password.\r\n* In lobby (2): ana, @lina\r\n")
	ana.Send("/oper admin sesame")
	ana.Expect("* You are now a server operator.\r\n")
	ana.Send("/wallops back at six")
	ana.Expect("!ana! back at six\r\n")
	w.Expect(":ana!ana@127.0.0.1 WALLOPS :back at six\r\n")
	ana.Send("/kill nobody", "/kill lina flooding")
	ana.Expect("! No one is called nobody.\r\n")
	lina.Expect("* Disconnected: Killed (ana (flooding))\r\n")
	lina.Closed()
	ana.Expect("* lina quit (Killed (ana (flooding)))\r\n")
	ana.Send("/whowas LINA", "/whowas nobody")
	ana.Expect("* lina was lina@127.0.0.1 (lina) until Jan 02 03:04:05\r\n! No one was called nobody lately.\r\n")
	if lina.Has("back at six") {
		t.Error("WALLOPS reached a line user who is not an operator")
	}
	if want := `msg="chat kill" addr=127.0.0.1 nick=ana victim=lina victim_addr=127.0.0.1 reason=flooding`; !strings.Contains(log.String(), want) {
		t.Errorf("the log has no %q:\n%s", want, log.String())
	}
}

// TestPythonOperKill: a real IRC client library (python3-irc) becomes an
// operator and KILLs a person on the line door; the person is told why and
// disconnected, and the client sees them quit.
func TestPythonOperKill(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import irc.client").Run(); err != nil {
		t.Fatalf("python3-irc is needed (scripts/test installs it): %v", err)
	}
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		addr, _ := startChat(t, name, chat.Options{GreetDelay: time.Hour, Opers: opers(t)}, server.Limits{})
		lina := dial(t, addr, "lina")
		lina.Send("lina")
		lina.Expect("* You are in lobby with 1: lina\r\n")

		host, port, _ := net.SplitHostPort(addr)
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, python, "testdata/ircoper.py", host, port, "admin", "sesame", "lina")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lina.Expect("* pyoper joined lobby\r\n")
		lina.Expect("* Disconnected: Killed (pyoper (spamming))\r\n")
		lina.Closed()
		events, _ := io.ReadAll(stdout)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("ircoper.py: %v\nstdout:\n%s\nstderr:\n%s", err, events, stderr.String())
		}
		want := strings.Join([]string{
			`["welcome", "pyoper"]`,
			`["youreoper"]`,
			`["umode", "pyoper", "pyoper", ["+o"]]`,
			`["names", "#lobby", ["@lina", "pyoper"]]`,
			`["quit", "lina", "Killed (pyoper (spamming))"]`,
			`["disconnect"]`,
		}, "\n")
		if got := strings.TrimSpace(string(events)); got != want {
			t.Errorf("the IRC client saw:\n%s\nwant:\n%s", got, want)
		}
	})
}

// TestOperActsInAnyRoom: a server operator may do in any room what its
// operators may, without being one of them.
func TestOperActsInAnyRoom(t *testing.T) {
	addr, _ := startChat(t, engine.Default, chat.Options{
		GreetDelay: -1, Opers: opers(t), PasswordDelay: 50 * time.Millisecond,
	}, server.Limits{})
	lina := dial(t, addr, "lina")
	lina.Send("lina")
	lina.Expect("* You are in lobby with 1: lina\r\n")
	ana := dial(t, addr, "ana")
	ana.Send("ana")
	ana.Expect("* You are in lobby with 2: ana, lina\r\n")
	ana.Send("/mute")
	ana.Expect("! You are not an operator of lobby.\r\n")
	ana.Send("/oper admin sesame")
	ana.Expect("* You are now a server operator.\r\n")
	ana.Send("/mute", "/kick lina enough")
	lina.Expect("* ana sets mode +m\r\n")
	lina.Expect("* ana kicked lina (enough)\r\n")
	ana.Expect("* ana kicked lina (enough)\r\n")
}
