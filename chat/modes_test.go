package chat_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/engine"
	"github.com/portside/portside/internal/testkit"
	"github.com/portside/portside/server"
)

// TestIRCModes: channel operators and every mode, and the refusals, at
// the IRC door (RFC 2812 §3.2): the first member of a room is its
// operator; MODE, KICK and INVITE, and the numerics of each refusal.
func TestIRCModes(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		addr, _ := startChat(t, name, chat.Options{GreetDelay: time.Hour}, server.Limits{})
		ana := dial(t, addr, "irc ana")
		ircLogin(t, ana, "ana")
		ana.Send("JOIN #c")
		ana.Expect(":portside 353 ana = #c @ana\r\n")
		bob := dial(t, addr, "irc bob")
		ircLogin(t, bob, "bob")
		bob.Send("JOIN #c")
		bob.Expect(":portside 353 bob = #c :@ana bob\r\n")
		ana.Expect(":bob!bob@127.0.0.1 JOIN #c\r\n")
		carol := dial(t, addr, "irc carol")
		ircLogin(t, carol, "carol")

		// A member who is not an operator changes nothing.
		bob.Send("MODE #c +m", "KICK #c ana", "MODE #c +o bob", "MODE #c", "MODE #c +b", "INVITE carol #c")
		bob.Expect(":portside 341 bob carol #c\r\n")
		carol.Expect(":bob!bob@127.0.0.1 INVITE carol #c\r\n")

		// Refusals: nothing changes, each told.
		ana.Send("MODE #c", "MODE #c +xy", "MODE #c +k :two words", "MODE #c +k waytoolongforakeyofthisroom",
			"MODE #c +l 0", "MODE #c +l -3", "MODE #c +l many", "MODE #c +o nobody", "MODE #c +o carol",
			"MODE #c +b bad,mask", "MODE #nowhere +m", "KICK #c nobody,carol", "KICK #nowhere bob",
			"MODE ana +z", "MODE #c")
		ana.Expect(":portside 403 ana #nowhere :No such channel\r\n:portside 501 ana :Unknown MODE flag\r\n:portside 324 ana #c +n\r\n")

		// Voice, moderation, topic by operators only.
		ana.Send("MODE #c +v bob", "MODE #c +mt")
		bob.Expect(":ana!ana@127.0.0.1 MODE #c +mt\r\n")
		bob.Send("PRIVMSG #c :voiced words")
		ana.Expect(":bob!bob@127.0.0.1 PRIVMSG #c :voiced words\r\n")
		ana.Send("MODE #c -v bob")
		bob.Expect(":ana!ana@127.0.0.1 MODE #c -v bob\r\n")
		bob.Send("PRIVMSG #c :muted words", "TOPIC #c :mine now", "NAMES #c", "WHO #c")
		bob.Expect(":portside 315 bob #c :End of /WHO list\r\n")

		// A key, a limit.
		ana.Send("MODE #c +k sesame", "MODE #c +k other", "MODE #c +l 2")
		ana.Expect(":ana!ana@127.0.0.1 MODE #c +l 2\r\n")
		carol.Send("JOIN #c", "JOIN #c wrong", "JOIN #c sesame")
		carol.Expect(":portside 471 carol #c :Cannot join channel (+l)\r\n")
		ana.Send("MODE #c -l")
		ana.Expect(":ana!ana@127.0.0.1 MODE #c -l\r\n")
		carol.Send("JOIN #c sesame")
		carol.Expect(":portside 366 carol #c :End of /NAMES list\r\n")
		ana.Expect(":carol!carol@127.0.0.1 JOIN #c\r\n")
		bob.Expect(":carol!carol@127.0.0.1 JOIN #c\r\n")

		// A ban, a kick of several, the ban list; the banned cannot come
		// back; unbanned, they can, unless the room is +i.
		ana.Send("MODE #c +b carol", "MODE #c b", "KICK #c carol,nobody :spam")
		bob.Expect(":ana!ana@127.0.0.1 KICK #c carol :spam\r\n")
		carol.Expect(":ana!ana@127.0.0.1 KICK #c carol :spam\r\n")
		carol.Send("PRIVMSG #c :still here?", "JOIN #c sesame")
		carol.Expect(":portside 474 carol #c :Cannot join channel (+b)\r\n")
		ana.Send("MODE #c -b+i carol!*@*")
		bob.Expect(":ana!ana@127.0.0.1 MODE #c -b+i carol!*@*\r\n")
		carol.Send("JOIN #c sesame")
		carol.Expect(":portside 473 carol #c :Cannot join channel (+i)\r\n")
		ana.Send("INVITE carol #c")
		carol.Expect(":ana!ana@127.0.0.1 INVITE carol #c\r\n")
		carol.Send("JOIN #c sesame")
		carol.Expect(":portside 366 carol #c :End of /NAMES list\r\n")
		ana.Expect(":carol!carol@127.0.0.1 JOIN #c\r\n")
		ana.Send("INVITE carol #c")
		ana.Expect(":portside 443 ana carol #c :is already on channel\r\n")

		// Secret: hidden from LIST and WHOIS of those not in it.
		ana.Send("MODE #c +s-k *")
		carol.Expect(":ana!ana@127.0.0.1 MODE #c +s-k *\r\n")
		dave := dial(t, addr, "irc dave")
		ircLogin(t, dave, "dave")
		dave.Send("LIST", "WHOIS ana", "MODE #c", "MODE #c +m", "KICK #c ana", "TOPIC #c :x", "INVITE bob #c", "MODE #c +b")
		dave.Expect(":portside 368 dave #c :End of channel ban list\r\n")
		dave.Send("NAMES #c", "PRIVMSG #c :from outside")
		dave.Expect(":portside 404 dave #c :Cannot send to channel\r\n")
		ana.Send("MODE #c -nm")
		carol.Expect(":ana!ana@127.0.0.1 MODE #c -nm\r\n")
		dave.Send("PRIVMSG #c :from outside")
		carol.Expect(":dave!dave@127.0.0.1 PRIVMSG #c :from outside\r\n")
		bob.Expect(":dave!dave@127.0.0.1 PRIVMSG #c :from outside\r\n")
		ana.Expect(":dave!dave@127.0.0.1 PRIVMSG #c :from outside\r\n")

		// Operators make operators; an operator may be deopped.
		ana.Send("MODE #c +o bob")
		bob.Expect(":ana!ana@127.0.0.1 MODE #c +o bob\r\n")
		bob.Send("MODE #c -o ana", "NAMES #c")
		bob.Expect(":portside 366 bob #c :End of /NAMES list\r\n")
		ana.Expect(":bob!bob@127.0.0.1 MODE #c -o ana\r\n")
		ana.Send("MODE #c +m")
		ana.Expect(":portside 482 ana #c :You're not channel operator\r\n")
		for _, p := range []*peer{ana, bob, carol, dave} {
			p.Send("QUIT")
			p.Closed()
		}
		golden(t, "irc_modes.golden", ana, bob, carol, dave)
	})
}

// TestIRCModeLimits: MODES and MAXLIST are kept to: changes with a
// parameter beyond four in one MODE are ignored, and a ban past the
// hundredth is refused with 478, the list unchanged.
func TestIRCModeLimits(t *testing.T) {
	addr, _ := startChat(t, engine.Default, chat.Options{GreetDelay: time.Hour}, server.Limits{})
	ana := dial(t, addr, "ana")
	ircLogin(t, ana, "ana")
	ana.Send("JOIN #c")
	ana.Expect(":portside 353 ana = #c @ana\r\n")
	ana.Send("MODE #c +bbbbb a b c d e")
	ana.Expect(":ana!ana@127.0.0.1 MODE #c +bbbb a!*@* b!*@* c!*@* d!*@*\r\n")
	for i := 4; i < chat.MaxBans; i++ {
		ana.Send(fmt.Sprintf("MODE #c +b n%d", i))
		ana.Expect(fmt.Sprintf(" MODE #c +b n%d!*@*\r\n", i))
	}
	ana.Send("MODE #c +b onetoomany", "MODE #c +b")
	ana.Expect(":portside 478 ana #c b :Channel ban list is full\r\n")
	ana.Expect(":portside 368 ana #c :End of channel ban list\r\n")
	if n := strings.Count(ana.Transcript(), " 367 ana #c "); n != chat.MaxBans {
		t.Errorf("ban list has %d masks, want %d", n, chat.MaxBans)
	}
	if strings.Contains(ana.Transcript(), "367 ana #c onetoomany") {
		t.Error("the ban past the limit is in the list")
	}
}

// TestLineModes: the same powers at the line door.
func TestLineModes(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		addr, _ := startChat(t, name, chat.Options{GreetDelay: -1}, server.Limits{})
		ana := dial(t, addr, "ana")
		ana.Send("ana")
		ana.Expect("* You are in lobby with 1: ana\r\n")
		bob := dial(t, addr, "bob")
		bob.Send("bob")
		bob.Expect("* You are in lobby with 2: ana, bob\r\n")
		ana.Expect("* bob joined lobby\r\n")
		carol := dial(t, addr, "carol")
		carol.Send("carol")
		carol.Expect("* You are in lobby with 3: ana, bob, carol\r\n")
		ana.Expect("* carol joined lobby\r\n")
		bob.Expect("* carol joined lobby\r\n")

		bob.Send("/mute", "/kick ana", "/op bob", "/ban ana", "/mode +t", "/who")
		bob.Expect("* In lobby (3): @ana, bob, carol\r\n")

		ana.Send("/mode", "/mode +x", "/mode +l 0", "/mode +l -1", "/mode +k waytoolongforakeyofthisroom",
			"/op zed", "/ban bad,mask", "/kick zed", "/op", "/mode")
		ana.Expect("! Usage: /op NICK\r\n* Modes of lobby: +n\r\n")

		ana.Send("/voice bob", "/mute")
		bob.Expect("* ana sets mode +m\r\n")
		carol.Expect("* ana sets mode +m\r\n")
		carol.Send("can anyone hear me")
		carol.Expect("! lobby is moderated")
		bob.Send("voiced words")
		carol.Expect("<bob> voiced words\r\n")
		ana.Expect("<bob> voiced words\r\n")
		ana.Send("/unmute", "/mode +t")
		carol.Expect("* ana sets mode +t\r\n")
		bob.Expect("* ana sets mode +t\r\n")
		carol.Send("/topic mine now", "/topic")
		carol.Expect("* lobby has no topic.\r\n")
		ana.Send("/topic ours")
		carol.Expect("* ana set the topic of lobby: ours\r\n")
		bob.Expect("* ana set the topic of lobby: ours\r\n")

		ana.Send("/kick carol spamming")
		carol.Expect("* ana kicked carol (spamming)\r\n")
		bob.Expect("* ana kicked carol (spamming)\r\n")
		carol.Send("hello?", "/join lobby")
		carol.Expect("* You are in lobby with 3: ana, bob, carol\r\n")
		bob.Expect("* carol joined lobby\r\n")
		ana.Expect("* carol joined lobby\r\n")

		ana.Send("/ban carol", "/kick carol")
		carol.Expect("* ana kicked carol\r\n")
		bob.Expect("* ana kicked carol\r\n")
		carol.Send("/join lobby")
		carol.Expect("! You are banned from lobby.\r\n")
		ana.Send("/mode +b", "/unban carol", "/mode +i")
		bob.Expect("* ana sets mode +i\r\n")
		carol.Send("/join lobby")
		carol.Expect("! lobby is invite only: an operator may /invite you.\r\n")
		ana.Send("/invite carol", "/invite bob", "/invite zed")
		carol.Expect("* ana invites you to lobby: /join lobby\r\n")
		ana.Expect("! No one is called zed.\r\n")
		carol.Send("/join lobby")
		carol.Expect("* You are in lobby with 3: ana, bob, carol\r\n")
		bob.Expect("* carol joined lobby\r\n")
		ana.Expect("* carol joined lobby\r\n")

		ana.Send("/mode +s")
		bob.Expect("* ana sets mode +s\r\n")
		lone := dial(t, addr, "lone")
		lone.Send("lone", "/join elsewhere", "/rooms")
		lone.Expect("* Rooms: elsewhere (1)\r\n") // lobby is secret
		lone.Send("/quit")
		lone.Closed()
		ana.Send("/mode -s-i+k sesame", "/deop ana", "/op bob")
		bob.Expect("* ana sets mode -o ana\r\n")
		ana.Send("/op bob", "/who")
		ana.Expect("* In lobby (3): ana, +bob, carol\r\n")
		dave := dial(t, addr, "dave")
		dave.Send("dave")
		dave.Expect("! lobby needs its key: /join lobby KEY\r\n")
		dave.Send("/join lobby sesame")
		dave.Expect("* You are in lobby with 4: ana, bob, carol, dave\r\n")
		for _, p := range []*peer{ana, bob, carol, dave} {
			p.Send("/quit")
			p.Closed()
		}
		golden(t, "line_modes.golden", ana, bob, carol, dave)
	})
}
