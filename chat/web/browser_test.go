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
	"github.com/portside/portside/engine"
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
			chromedp.WaitVisible(`//ul[@id="members"]/li[@data-nick="ira"]`, chromedp.BySearch),
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

var shots = flag.String("screenshots", "", "also save TestBrowserLayout's screenshots (PNG) in this `directory`")

// box is an element's place in the viewport, in CSS pixels.
type box struct{ Left, Right, Top, Bottom float64 }

func (b box) inside(w, h float64) bool {
	return b.Left >= 0 && b.Top >= 0 && b.Right <= w+0.5 && b.Bottom <= h+0.5 && b.Right > b.Left && b.Bottom > b.Top
}

// layout is what the page looks like, measured in the browser.
type layout struct {
	Width, Height, ScrollWidth  float64
	Say, Send, Messages, Status box
	RoomsShown, MembersShown    bool     // the panel is visible, in the viewport, and on top
	RoomsGone, MembersGone      bool     // no part of the panel is visible
	RoomsToggle, MembersToggle  bool     // the button that opens it is shown
	Overflowing                 []string // messages wider than the list
}

const layoutJS = `(() => {
	const $ = (id) => document.getElementById(id);
	const box = (el) => { const b = el.getBoundingClientRect(); return {Left: b.left, Right: b.right, Top: b.top, Bottom: b.bottom}; };
	const list = $('messages');
	return {
		Width: innerWidth, Height: innerHeight, ScrollWidth: document.scrollingElement.scrollWidth,
		Say: box($('say')), Send: box(document.querySelector('#say-form button')), Messages: box(list), Status: box($('status')),
		RoomsShown: onTop($('rooms-panel')), MembersShown: onTop($('members-panel')),
		RoomsGone: gone($('rooms-panel')), MembersGone: gone($('members-panel')),
		RoomsToggle: $('rooms-toggle').offsetParent !== null, MembersToggle: $('members-toggle').offsetParent !== null,
		Overflowing: [...list.querySelectorAll('li')]
			.filter((li) => li.scrollWidth > li.clientWidth + 1 || li.getBoundingClientRect().right > list.getBoundingClientRect().right + 0.5)
			.map((li) => li.innerText),
	};
})()`

// onTopJS defines onTop(el): el is visible, wholly in the viewport, and
// what a tap at its centre reaches; and gone(el): no part of it shows.
const onTopJS = `window.onTop = (el) => {
	const b = el.getBoundingClientRect();
	if (getComputedStyle(el).visibility !== 'visible' || b.width === 0 || b.height === 0) return false;
	if (b.left < 0 || b.top < 0 || b.right > innerWidth + 0.5 || b.bottom > innerHeight + 0.5) return false;
	return el.contains(document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2));
};
window.gone = (el) => {
	const b = el.getBoundingClientRect();
	return getComputedStyle(el).visibility !== 'visible' || b.right <= 0 || b.left >= innerWidth || b.bottom <= 0 || b.top >= innerHeight;
}; true`

// TestBrowserLayout: the page at a desktop's width (1280 px) and a phone's
// (420 and 360 px). On the desktop, rooms, conversation and members sit
// side by side; on the phone the conversation takes the screen, rooms and
// members open over it from their buttons, and nothing is cut off or
// scrolls sideways. No status badge shows before the first connection
// attempt, nor "offline" on the way in. Replayed history comes before the
// line saying the page joined, and joining a room shows it. Screenshots
// are taken at each width (-screenshots DIR keeps them).
func TestBrowserLayout(t *testing.T) {
	s := start(t, engine.Default, chat.Options{})
	lina := testkit.Dial(t, s.chat, "lina")
	lina.Send("lina")
	lina.Expect("* You are in lobby with 1: lina")
	wil := testkit.Dial(t, s.chat, "wil")
	wil.Send("wilhelmina_of_the_long_name")
	wil.Expect("* You are in lobby with 2: lina, wilhelmina_of_the_long_name")
	lina.Expect("* wilhelmina_of_the_long_name joined lobby")
	said := []string{
		"said before the page came",
		"a rather long sentence, to see that it wraps on a phone and does not push the page sideways",
		"unbroken:" + strings.Repeat("x", 150),
	}
	lina.Send(said...)
	wil.Expect(said[len(said)-1]) // kept: it is replayed to joiners
	wil.Send("/join web-room", "said in web-room before")
	wil.Expect("* You are in web-room with 1")
	lina.Expect("* wilhelmina_of_the_long_name left lobby")
	// The line door echoes nothing back: another member seeing it says
	// it is kept.
	oz := testkit.Dial(t, s.chat, "oz")
	oz.Send("oz", "/join web-room")
	oz.Expect("said in web-room before")

	const bea = "beatrix_has_a_long_name_too" // and the header has to show it
	ctx := testkit.Browser(t, 1280, 800, 120*time.Second)
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
	poll := func(js string) chromedp.Action {
		return chromedp.Poll(js, nil, chromedp.WithPollingTimeout(30*time.Second))
	}
	measure := func(at string) layout {
		t.Helper()
		var l layout
		run("measuring at "+at, chromedp.Evaluate(onTopJS, nil), chromedp.Evaluate(layoutJS, &l))
		if l.ScrollWidth > l.Width {
			t.Errorf("%s: the page scrolls sideways: %v wide in %v", at, l.ScrollWidth, l.Width)
		}
		for name, b := range map[string]box{"message input": l.Say, "send button": l.Send, "status badge": l.Status} {
			if !b.inside(l.Width, l.Height) {
				t.Errorf("%s: the %s is not wholly in the %vx%v viewport: %+v", at, name, l.Width, l.Height, b)
			}
		}
		if l.Messages.Left < 0 || l.Messages.Right > l.Width+0.5 {
			t.Errorf("%s: the messages are cut off: %+v in %v", at, l.Messages, l.Width)
		}
		for _, o := range l.Overflowing {
			t.Errorf("%s: message wider than the list: %q", at, o)
		}
		return l
	}
	screenshot := func(name string) {
		t.Helper()
		var png []byte
		run("screenshot "+name, chromedp.CaptureScreenshot(&png))
		if len(png) < 1000 {
			t.Errorf("screenshot %s is %d bytes", name, len(png))
		}
		if *shots != "" {
			if err := os.WriteFile(filepath.Join(*shots, name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Before logging in: no badge. Then every state it shows is recorded.
	var badge struct {
		Hidden bool
		Text   string
	}
	run("opening the page",
		chromedp.Navigate("http://"+s.web+"/chat"),
		chromedp.WaitVisible(`#login`, chromedp.ByID),
		chromedp.Evaluate(`({Hidden: document.getElementById('status').hidden, Text: document.getElementById('status').innerText})`, &badge),
		chromedp.Evaluate(`window.badges = [];
			new MutationObserver(() => { const s = document.getElementById('status'); badges.push((s.hidden ? 'hidden ' : '') + s.className + ': ' + s.textContent); })
				.observe(document.getElementById('status'), {attributes: true, childList: true, characterData: true, subtree: true}); true`, nil),
	)
	if !badge.Hidden || badge.Text != "" {
		t.Errorf("before logging in, the status badge shows %q (hidden %v)", badge.Text, badge.Hidden)
	}
	screenshot("login-1280")
	var login struct {
		Width, ScrollWidth float64
		Form, Button       box
	}
	run("the login form at 360 px",
		chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Evaluate(`(() => {
			const box = (el) => { const b = el.getBoundingClientRect(); return {Left: b.left, Right: b.right, Top: b.top, Bottom: b.bottom}; };
			return {Width: innerWidth, ScrollWidth: document.scrollingElement.scrollWidth,
				Form: box(document.getElementById('login')), Button: box(document.querySelector('#login button'))};
		})()`, &login),
	)
	if login.ScrollWidth > login.Width || !login.Form.inside(360, 740) || !login.Button.inside(360, 740) {
		t.Errorf("360 px: the login form does not fit: %+v", login)
	}
	screenshot("login-360")
	run("back to the desktop", chromedp.EmulateViewport(1280, 800))
	run("logging in",
		chromedp.SendKeys(`#nick`, bea, chromedp.ByID),
		chromedp.Click(`#login button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#chat`, chromedp.ByID),
		chromedp.WaitVisible(`#status.on`, chromedp.ByQuery),
		shown(bea+" joined lobby"),
		shown(said[len(said)-1]),
		chromedp.WaitVisible(`//ul[@id="members"]/li[@data-nick="lina"]`, chromedp.BySearch),
	)
	var badges []string
	run("the badges shown", chromedp.Evaluate(`badges`, &badges))
	for _, b := range badges {
		if strings.Contains(b, "off") || strings.Contains(b, "offline") {
			t.Errorf("on the way in, the badge showed %q; all: %q", b, badges)
		}
	}
	lina.Expect("* " + bea + " joined lobby")

	// History above the line saying the page joined.
	inOrder := func(room string, want ...string) {
		t.Helper()
		var items []item
		run("the transcript of "+room, chromedp.Evaluate(itemsJS, &items))
		at := 0
		for _, it := range items {
			if at < len(want) && strings.Contains(it.Text, want[at]) {
				at++
			}
		}
		if at < len(want) {
			b, _ := json.MarshalIndent(items, "", " ")
			t.Errorf("%s: want %q in this order; %q is missing or out of order in %s", room, want, want[at], b)
		}
	}
	inOrder("lobby", append(said, bea+" joined lobby")...)

	// The desktop: three columns, no buttons for them.
	l := measure("1280 px")
	if !l.RoomsShown || !l.MembersShown || l.RoomsToggle || l.MembersToggle {
		t.Errorf("1280 px: rooms shown %v, members shown %v, their buttons shown %v, %v; want the panels and no buttons",
			l.RoomsShown, l.MembersShown, l.RoomsToggle, l.MembersToggle)
	}
	screenshot("chat-1280")
	// The narrowest screen with the three columns.
	run("resizing to 780 px", chromedp.EmulateViewport(780, 800))
	if l := measure("780 px"); !l.RoomsShown || !l.MembersShown || l.RoomsToggle || l.MembersToggle {
		t.Errorf("780 px: rooms shown %v, members shown %v, their buttons shown %v, %v; want the panels and no buttons",
			l.RoomsShown, l.MembersShown, l.RoomsToggle, l.MembersToggle)
	}
	screenshot("chat-780")

	// A phone: the conversation, the panels behind their buttons.
	phone := func(w, h int64) {
		t.Helper()
		at := strconv.Itoa(int(w)) + " px"
		run("resizing to "+at,
			chromedp.EmulateViewport(w, h, chromedp.EmulateMobile, chromedp.EmulateTouch),
			chromedp.Evaluate(onTopJS, nil),
		)
		l := measure(at)
		if !l.RoomsToggle || !l.MembersToggle {
			t.Errorf("%s: the rooms and members buttons are not shown", at)
		}
		if !l.RoomsGone || !l.MembersGone {
			t.Errorf("%s: rooms gone %v, members gone %v, before their buttons are pressed", at, l.RoomsGone, l.MembersGone)
		}
		if l.Messages.Right-l.Messages.Left < 0.9*l.Width {
			t.Errorf("%s: the messages take %v of %v", at, l.Messages.Right-l.Messages.Left, l.Width)
		}
		screenshot("chat-" + strconv.Itoa(int(w)))

		// Members: open, reach a member, close by tapping beside it.
		run(at+": opening the members",
			chromedp.Click(`#members-toggle`, chromedp.ByID),
			chromedp.Evaluate(onTopJS, nil),
			poll(`onTop(document.getElementById('members-panel'))`),
			poll(`[...document.querySelectorAll('#members li')].some((li) => li.innerText === '`+bea+`' && onTop(li))`),
		)
		screenshot("chat-" + strconv.Itoa(int(w)) + "-members")
		run(at+": closing the members",
			chromedp.MouseClickXY(10, float64(h)/2),
			poll(`gone(document.getElementById('members-panel'))`),
		)
		// Rooms: open, pick the room shown, and it closes.
		run(at+": opening the rooms",
			chromedp.Click(`#rooms-toggle`, chromedp.ByID),
			poll(`onTop(document.getElementById('rooms-panel'))`),
			poll(`onTop(document.querySelector('#rooms li.active'))`),
		)
		screenshot("chat-" + strconv.Itoa(int(w)) + "-rooms")
		run(at+": choosing a room",
			chromedp.Click(`#rooms li.active`, chromedp.ByQuery),
			poll(`gone(document.getElementById('rooms-panel'))`),
		)
		if l := measure(at + ", panels closed"); !l.RoomsGone || !l.MembersGone {
			t.Errorf("%s: rooms gone %v, members gone %v, once closed", at, l.RoomsGone, l.MembersGone)
		}
	}
	phone(420, 860)

	// Joining a room shows it, its history above the join.
	run("joining web-room",
		chromedp.SendKeys(`#say`, "/join web-room", chromedp.ByID),
		chromedp.Click(`#say-form button`, chromedp.ByQuery),
		poll(`document.querySelector('#rooms li.active')?.dataset.room === 'web-room'`),
		shown(bea+" joined web-room"),
		shown("said in web-room before"),
		chromedp.WaitVisible(`//ul[@id="members"]/li[@data-nick="oz"]`, chromedp.BySearch),
	)
	oz.Expect("* " + bea + " joined web-room")
	inOrder("web-room", "said in web-room before", bea+" joined web-room")
	var input string
	run("the input after /join", chromedp.Value(`#say`, &input, chromedp.ByID))
	if input != "" {
		t.Errorf("after /join the input still holds %q", input)
	}
	oz.Send("hello from the line")
	run("seeing web-room", shown("hello from the line"))
	screenshot("chat-420-web-room")

	phone(360, 740)

	// Said in a room not shown: counted on the rooms button.
	lina.Send("said in lobby meanwhile")
	run("the unread count", poll(`document.getElementById('unread').innerText === '1' && onTop(document.getElementById('unread'))`))
	screenshot("chat-360-unread")
	// Leaving the room shown shows the one left.
	run("leaving web-room",
		chromedp.SendKeys(`#say`, "/part", chromedp.ByID),
		chromedp.Click(`#say-form button`, chromedp.ByQuery),
		poll(`document.querySelector('#rooms li.active')?.dataset.room === 'lobby' && document.querySelectorAll('#rooms li').length === 1`),
		shown("said in lobby meanwhile"),
	)
	oz.Expect("* " + bea + " left web-room")
	measure("360 px, back in lobby")
	screenshot("chat-360-lobby")

	// Joining from the box in the rooms panel: the room is shown, the
	// panel closes.
	run("joining from the rooms panel",
		chromedp.Click(`#rooms-toggle`, chromedp.ByID),
		poll(`onTop(document.getElementById('join-room'))`),
		chromedp.SendKeys(`#join-room`, "Quiet-Room\r", chromedp.ByID),
		poll(`document.querySelector('#rooms li.active')?.dataset.room === 'quiet-room'`),
		poll(`gone(document.getElementById('rooms-panel'))`),
		shown(bea+" joined quiet-room"),
	)
}
