package web_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/engine"
	"github.com/portside/portside/internal/testkit"
)

// TestBrowserModeration: a Chromium user is the operator of lobby, where a
// person on the line door and a python3-irc client are. From the members
// list it mutes the person (a ban without the kick), kicks them (they
// cannot come back: banned), makes the room moderated with /mute (the IRC
// client is refused, 404) and bans the IRC client (its join again is
// refused, 474). Everyone sees who did what, at every door: the line and
// IRC doors' transcripts, and the page's.
func TestBrowserModeration(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import irc.client").Run(); err != nil {
		t.Fatalf("python3-irc is needed (scripts/test installs it): %v", err)
	}
	s := start(t, engine.Default, chat.Options{})
	ctx := testkit.Browser(t, 1100, 700, 120*time.Second)
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			var items []item
			chromedp.Run(ctx, chromedp.Evaluate(itemsJS, &items))
			t.Fatalf("browser, %s: %v\nmessages shown: %+v", what, err, items)
		}
	}
	shown := func(text string) chromedp.Action {
		return chromedp.WaitVisible(`//ol[@id="messages"]/li[contains(., "`+text+`")]`, chromedp.BySearch)
	}
	button := func(nick, action string) string {
		return `//ul[@id="members"]/li[@data-nick="` + nick + `"]//button[@data-action="` + action + `"]`
	}
	run("logging in first: the operator of lobby",
		chromedp.Navigate("http://"+s.web+"/chat"),
		chromedp.WaitVisible(`#login`, chromedp.ByID),
		chromedp.SendKeys(`#nick`, "ana", chromedp.ByID),
		chromedp.Click(`#login button`, chromedp.ByQuery),
		chromedp.WaitVisible(`//ul[@id="members"]/li[@data-nick="ana"][contains(., "@ana")]`, chromedp.BySearch),
	)

	line := testkit.Dial(t, s.chat, "lina")
	line.Send("lina")
	line.Expect("* You are in lobby with 2: ana, lina")
	host, port, _ := net.SplitHostPort(s.chat)
	pctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(pctx, python, "../testdata/ircmod.py", host, port)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line.Expect("<pyirc> hello from python")
	run("seeing them, with an operator's actions",
		shown("hello from python"),
		chromedp.WaitVisible(button("lina", "mute"), chromedp.BySearch),
		chromedp.WaitVisible(button("pyirc", "kick"), chromedp.BySearch),
	)

	run("muting lina", chromedp.Click(button("lina", "mute"), chromedp.BySearch), shown("ana sets mode +b lina!*@*"))
	line.Expect("* ana sets mode +b lina!*@*\r\n")
	line.Send("can anyone hear me?")
	line.Expect("! You are banned from lobby: that was not sent.\r\n")
	run("kicking lina", chromedp.Click(button("lina", "kick"), chromedp.BySearch), shown("ana kicked lina"))
	line.Expect("* ana kicked lina\r\n")
	line.Send("/join lobby")
	line.Expect("! You are banned from lobby.\r\n")

	run("muting the room",
		chromedp.SendKeys(`#say`, "/mute", chromedp.ByID),
		chromedp.Click(`#say-form button`, chromedp.ByQuery),
		shown("ana sets mode +m"),
	)
	run("banning pyirc",
		chromedp.WaitVisible(button("pyirc", "ban"), chromedp.BySearch),
		chromedp.Click(button("pyirc", "ban"), chromedp.BySearch),
		shown("ana kicked pyirc (banned)"),
	)
	events, _ := io.ReadAll(stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ircmod.py: %v\nstdout:\n%s\nstderr:\n%s", err, events, stderr.String())
	}
	want := []string{
		`["join", "#lobby"]`,
		`["names", "#lobby", ["@ana", "lina", "pyirc"]]`,
		`["mode", "ana", "#lobby", "+b", "lina!*@*"]`,
		`["kick", "ana", "#lobby", "lina", ""]`,
		`["mode", "ana", "#lobby", "+m"]`,
		`["cannotsendtochan", "#lobby", "Cannot send to channel (+m)"]`,
		`["mode", "ana", "#lobby", "+b", "pyirc!*@*"]`,
		`["kick", "ana", "#lobby", "pyirc", "banned"]`,
		`["bannedfromchan", "#lobby", "Cannot join channel (+b)"]`,
		`["disconnect"]`,
	}
	got := strings.Split(strings.TrimSpace(string(events)), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the IRC client saw:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
