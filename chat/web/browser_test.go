package web_test

import (
	"encoding/json"
	"flag"
	"github.com/portside/portside/internal/testkit"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/portside/portside/chat"
)

var screenshot = flag.String("screenshot", "", "also save the browser test's screenshot to this `file`")

type item struct {
	Seq   string `json:"seq"`
	Class string `json:"cls"`
	Text  string `json:"text"`
}

const itemsJS = `[...document.querySelectorAll('#messages li')].map(li => ({seq: li.dataset.seq || '', cls: li.className, text: li.innerText}))`

// TestBrowser: headless Chromium opens /chat, logs in with the server's
// password and is put in lobby, where a person on the line door and an IRC
// client are. It is shown the room's history, sees both of them speak, and
// both see what it says. Then the server closes its socket: the page
// reconnects and catches up on what was said meanwhile, from the last
// sequence number it saw, with nothing twice.
func TestBrowser(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		s := start(t, name, chat.Options{Password: "sesame"})
		line := testkit.Dial(t, s.chat, "lina")
		line.Send("lina", "sesame")
		line.Expect("* You are in lobby with 1: lina")
		line.Send("said before the browser came")
		irc := testkit.Dial(t, s.chat, "ira")
		irc.Send("PASS sesame", "NICK ira", "USER ira 0 * :Ira", "JOIN #lobby")
		irc.Expect(" 366 ira #lobby ")
		irc.Expect("PRIVMSG #lobby :said before the browser came") // replayed: it is kept

		ctx := testkit.Browser(t, 1100, 700, 90*time.Second)
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

		run("logging in",
			chromedp.Navigate("http://"+s.web+"/chat"),
			chromedp.WaitVisible(`#login`, chromedp.ByID),
			chromedp.SendKeys(`#nick`, "bea", chromedp.ByID),
			chromedp.SendKeys(`#password`, "sesame", chromedp.ByID),
			chromedp.Click(`#login button`, chromedp.ByQuery),
			chromedp.WaitVisible(`#chat`, chromedp.ByID),
			shown("said before the browser came"),
			chromedp.WaitVisible(`//ul[@id="members"]/li[.="ira"]`, chromedp.BySearch),
		)
		line.Expect("* bea joined lobby")
		irc.Expect(":bea!bea@127.0.0.1 JOIN #lobby")
		line.Send("hello from the line")
		irc.Send("PRIVMSG #lobby :hello from irc")
		run("seeing the others", shown("hello from the line"), shown("hello from irc"))
		run("speaking",
			chromedp.SendKeys(`#say`, "hello from the browser", chromedp.ByID),
			chromedp.Click(`#say-form button`, chromedp.ByQuery),
		)
		line.Expect("<bea> hello from the browser")
		irc.Expect(":bea!bea@127.0.0.1 PRIVMSG #lobby :hello from the browser")

		// The server closes the socket; what is said before the page is
		// back, it catches up on.
		if !s.door.Kick("bea", "kicked by the test") {
			t.Fatal("Kick found no bea")
		}
		line.Expect("* bea quit (kicked by the test)")
		line.Send("said while the browser was away")
		irc.Send("PRIVMSG #lobby :also said while it was away")
		irc.Expect("PRIVMSG #lobby :said while the browser was away")
		line.Expect("<ira> also said while it was away")
		run("catching up",
			shown("also said while it was away"),
			shown("said while the browser was away"),
			chromedp.WaitVisible(`#status.on`, chromedp.ByQuery),
		)
		line.Expect("* bea joined lobby")
		line.Send("after the reconnect")
		var items []item
		var shot []byte
		run("the transcript",
			shown("after the reconnect"),
			chromedp.Evaluate(itemsJS, &items),
			chromedp.FullScreenshot(&shot, 100),
		)

		// Every kept message shown once, numbered, in sequence order;
		// those said before the page joined marked as history.
		wantSaid := []string{
			"said before the browser came", "hello from the line", "hello from irc", "hello from the browser",
			"said while the browser was away", "also said while it was away", "after the reconnect",
		}
		count := map[string]int{}
		last := 0
		for _, it := range items {
			text := lastLine(it.Text)
			count[text]++
			if it.Seq == "" {
				if !strings.Contains(it.Class, "event") {
					t.Errorf("message %q shown without a sequence number", text)
				}
				continue
			}
			seq, _ := strconv.Atoi(it.Seq)
			if seq <= last {
				t.Errorf("seq %d (%q) shown after %d", seq, text, last)
			}
			last = seq
			if text == "said before the browser came" && !strings.Contains(it.Class, "history") {
				t.Errorf("%q is not marked as history: %q", text, it.Class)
			}
		}
		for _, w := range wantSaid {
			if count[w] != 1 {
				t.Errorf("%q shown %d times, want once", w, count[w])
			}
		}
		if last != len(wantSaid) {
			b, _ := json.MarshalIndent(items, "", " ")
			t.Errorf("last seq shown %d, want %d; items: %s", last, len(wantSaid), b)
		}

		out := filepath.Join(t.TempDir(), "chat.png")
		if err := os.WriteFile(out, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		if *screenshot != "" && name == "epoll" {
			if err := os.WriteFile(*screenshot, shot, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if len(shot) < 1000 {
			t.Errorf("screenshot is %d bytes", len(shot))
		}
	})
}

// lastLine is the text of a message item: its time and nick come first.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexAny(s, "\n\t"); i >= 0 {
		return strings.TrimSpace(s[i+1:])
	}
	return s
}
