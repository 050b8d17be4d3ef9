package chat

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portside/portside/proto/irc"
	"github.com/portside/portside/server"
)

// ircConn is an IRC client.
type ircConn struct {
	Member
	hub        *Hub
	c          server.Conn
	gate       Gate  // holds input while a nick claim is out, or behind a message
	caps       uint8 // capServerTime, capMessageTags, ...
	batches    uint32
	negotiate  bool // CAP LS seen, CAP END not yet
	registered bool
	pass       string // what PASS gave
	passGiven  bool
	pwWait     bool // pass waits for its turn to be checked: the timer is armed
	passOK     bool // the password was checked, and right
	done       bool // the connection is closing: input is ignored
	wantNick   string
	user       string
}

// Version is what the IRC door reports as the server's version.
const Version = "portside-1"

// capabilities are the IRCv3 capabilities offered, with their bits.
var capabilities = []capability{
	{"batch", capBatch},
	{"draft/chathistory", capChathistory},
	{"message-tags", capMessageTags},
	{"server-time", capServerTime},
}

type capability struct {
	name string
	bit  uint8
}

// maxChathistory is the most messages one CHATHISTORY answers with.
const maxChathistory = 100

// newIRC makes the IRC door's connection c, which opened at since (unix
// nanoseconds).
func (h *Hub) newIRC(c server.Conn, since int64) *ircConn {
	i := &ircConn{hub: h, c: c}
	i.out = c
	i.door = i
	i.pingable = true // IRC clients answer PING
	i.format.Store(uint32(h.ircFmt[0]))
	i.touch(h.o.Now())
	h.arrive(&i.Member, since)
	return i
}

// me is the client's nick for numerics: "*" until it has one.
func (i *ircConn) me() string {
	if i.registered {
		return i.nick
	}
	return "*"
}

// reply sends a numeric (or a command) from the server to the client.
func (i *ircConn) reply(cmd string, params ...string) {
	m := irc.Message{Source: i.hub.o.ServerName, Command: cmd, Params: append([]string{i.me()}, params...)}
	i.c.Write(m.Append(nil))
}

// send sends a message from the server without the client's nick first.
func (i *ircConn) send(cmd string, params ...string) {
	m := irc.Message{Source: i.hub.o.ServerName, Command: cmd, Params: params}
	if cmd == "ERROR" {
		m.Source = "" // ERROR is the server's last word, from no one
	}
	i.c.Write(m.Append(nil))
}

func (i *ircConn) data(in []byte) (int, error) { return i.gate.Data(in, i.lines) }

// lines handles the complete messages of in, under the gate.
func (i *ircConn) lines(in []byte) (int, error) {
	if i.done {
		return len(in), nil
	}
	used := 0
	for {
		m, n, err := irc.Next(in[used:])
		if n == 0 {
			if err != nil {
				return used, err
			}
			return used, nil
		}
		line := in[used : used+n]
		used += n
		now := i.hub.o.Now()
		switch {
		case errors.Is(err, irc.ErrEmpty):
			continue
		case errors.Is(err, irc.ErrTooLong):
			return used, err
		case err != nil:
			if drop, done := i.flood(now, "line"); done {
				return len(in), nil
			} else if !drop {
				i.notice("Could not parse that line: " + strings.TrimPrefix(err.Error(), "irc: "))
			}
			continue
		}
		i.touch(now)
		if m.Command == "PONG" {
			continue
		}
		if i.hub.Sending(&i.Member, messageRoom(&m), i.sent) {
			// A message of the client's is on its way: this line waits
			// for it to reach the room, so that its answer (a PONG, say)
			// never overtakes it.
			i.gate.HoldBrief()
			return used - n, nil
		}
		if drop, done := i.flood(now, m.Command); done {
			return len(in), nil
		} else if drop {
			continue
		}
		if !utf8.Valid(line) {
			i.send("FAIL", m.Command, "INVALID_UTF8", "Message rejected: it is not valid UTF-8")
			continue
		}
		if i.command(&m) {
			i.done = true
			return len(in), nil
		}
		if i.gate.holding {
			return used, nil
		}
	}
}

// sent goes on with the input held behind the client's messages, now that
// they have reached their rooms.
func (i *ircConn) sent() { i.gate.Resume(i.c, func() {}, i.lines) }

// messageRoom is the room a PRIVMSG or NOTICE to one channel is said in,
// or "" for any other command: one that must wait for the client's
// messages to arrive before it is handled.
func messageRoom(m *irc.Message) string {
	if (m.Command != "PRIVMSG" && m.Command != "NOTICE") || len(m.Params) < 2 {
		return ""
	}
	room, ok := roomOf(m.Params[0])
	if !ok {
		return ""
	}
	return room
}

// flood applies flood control to a line, registered or not: drop says to
// drop it (the client was told), done that the client kept on through a
// whole burst of dropped lines and is being disconnected.
func (i *ircConn) flood(now time.Time, what string) (drop, done bool) {
	if i.bucket.allow(&i.hub.o, now) {
		return false, false
	}
	if i.bucket.flooding(&i.hub.o) {
		i.hub.Disconnect(&i.Member, "excess flood")
		i.done = true
		return true, true
	}
	i.notice("Flood control: your " + what + " was dropped; slow down.")
	return true, false
}

func (i *ircConn) notice(text string) {
	i.send("NOTICE", i.me(), "*** "+text)
}

// ircCommand is one line of the IRC door's command table.
type ircCommand struct {
	// run handles the message and reports whether the connection is done.
	run func(i *ircConn, m *irc.Message) bool
	// minParams: a message with fewer is answered 461 ERR_NEEDMOREPARAMS
	// and not run.
	minParams int
	// preReg: allowed before registration; other commands are then
	// answered 451 ERR_NOTREGISTERED.
	preReg bool
}

// ircCommands is the IRC door's command table, by command name. It is
// filled in init: its handlers reach back to command, through the gate.
var ircCommands map[string]ircCommand

func init() {
	ircCommands = map[string]ircCommand{
		// Registration, and what may come before it.
		"CAP":  {run: never((*ircConn).cap), preReg: true},
		"PASS": {run: never((*ircConn).passCmd), minParams: 1, preReg: true},
		"NICK": {run: (*ircConn).nickCmd, preReg: true},
		"USER": {run: (*ircConn).userCmd, minParams: 4, preReg: true},
		"PING": {run: never((*ircConn).pingCmd), minParams: 1, preReg: true},
		"QUIT": {run: (*ircConn).quitCmd, preReg: true},

		// Channels.
		"JOIN":   {run: never((*ircConn).joinCmd), minParams: 1},
		"PART":   {run: never((*ircConn).partCmd), minParams: 1},
		"TOPIC":  {run: never((*ircConn).topic), minParams: 1},
		"NAMES":  {run: never((*ircConn).namesCmd)},
		"LIST":   {run: never((*ircConn).listCmd)},
		"MODE":   {run: never((*ircConn).mode), minParams: 1},
		"KICK":   {run: never((*ircConn).kick), minParams: 2},
		"INVITE": {run: never((*ircConn).invite), minParams: 2},

		// Messages.
		"PRIVMSG":     {run: never((*ircConn).message)},
		"NOTICE":      {run: never((*ircConn).message)},
		"TAGMSG":      {run: never(func(*ircConn, *irc.Message) {})}, // client-only tags (typing) are not relayed
		"CHATHISTORY": {run: never((*ircConn).chathistory)},

		// Users.
		"WHO":      {run: never(func(i *ircConn, m *irc.Message) { i.who(m.Param(0)) })},
		"WHOIS":    {run: never(func(i *ircConn, m *irc.Message) { i.whois(m.Params[len(m.Params)-1]) }), minParams: 1},
		"AWAY":     {run: never((*ircConn).awayCmd)},
		"USERHOST": {run: never((*ircConn).userhostCmd), minParams: 1},
		"ISON":     {run: never((*ircConn).isonCmd), minParams: 1},

		// The server.
		"MOTD":    {run: never((*ircConn).motdCmd)},
		"LUSERS":  {run: never((*ircConn).lusersCmd)},
		"VERSION": {run: never((*ircConn).versionCmd)},
		"TIME":    {run: never((*ircConn).timeCmd)},
		"INFO":    {run: never((*ircConn).infoCmd)},
		"WHOWAS":  {run: never((*ircConn).whowasCmd), minParams: 1},

		// Server operators (oper.go).
		"OPER":    {run: never((*ircConn).operCmd), minParams: 2},
		"KILL":    {run: never((*ircConn).killCmd), minParams: 1},
		"WALLOPS": {run: never((*ircConn).wallopsCmd), minParams: 1},
	}
}

// never adapts a handler that never ends the connection.
func never(f func(*ircConn, *irc.Message)) func(*ircConn, *irc.Message) bool {
	return func(i *ircConn, m *irc.Message) bool { f(i, m); return false }
}

// command runs one message through the command table and reports whether
// the connection is done.
func (i *ircConn) command(m *irc.Message) bool {
	c, ok := ircCommands[m.Command]
	if !i.registered && !c.preReg {
		i.reply(irc.ErrNotRegistered, "You have not registered")
		return false
	}
	if !ok {
		i.reply(irc.ErrUnknownCommand, m.Command, "Unknown command")
		return false
	}
	if len(m.Params) < c.minParams {
		i.reply(irc.ErrNeedMoreParams, m.Command, "Not enough parameters")
		return false
	}
	return c.run(i, m)
}

func (i *ircConn) passCmd(m *irc.Message) {
	if i.registered {
		i.reply(irc.ErrAlreadyRegistered, "You may not reregister")
		return
	}
	// Checked once NICK and USER are in: see tryRegister.
	i.pass, i.passGiven = m.Params[0], true
}

func (i *ircConn) userCmd(m *irc.Message) bool {
	if i.registered || i.user != "" {
		i.reply(irc.ErrAlreadyRegistered, "You may not reregister")
		return false
	}
	i.user = m.Params[0]
	if !irc.ValidNick(i.user, 16) {
		i.user = "user"
	}
	i.real = m.Params[3]
	return i.tryRegister()
}

func (i *ircConn) pingCmd(m *irc.Message) {
	i.send("PONG", i.hub.o.ServerName, m.Params[0])
}

func (i *ircConn) quitCmd(m *irc.Message) bool {
	r := "Quit"
	if t := m.Param(0); CheckText(t) != nil {
		i.notice("Your quit message may not hold NUL characters: you leave without it.")
	} else if t != "" {
		r = "Quit: " + t
	}
	i.gone.CompareAndSwap(nil, &r)
	i.hub.Quit(&i.Member, r)
	i.send("ERROR", "Closing Link: "+Host(i.c.RemoteAddr())+" ("+r+")")
	i.c.Close()
	return true
}

func (i *ircConn) partCmd(m *irc.Message) {
	h := i.hub
	for _, ch := range strings.Split(m.Params[0], ",") {
		room, ok := roomOf(ch)
		err := ErrBadRoom
		if ok {
			err = h.Part(&i.Member, room, m.Param(1))
		}
		switch {
		case errors.Is(err, ErrBadText):
			i.notice("Your part message may not hold NUL characters: you are still on " + ch + ".")
		case errors.Is(err, ErrBadRoom):
			i.reply(irc.ErrNoSuchChannel, ch, "No such channel")
		case errors.Is(err, ErrNotIn):
			i.reply(irc.ErrNotOnChannel, ch, "You're not on that channel")
		}
	}
}

func (i *ircConn) namesCmd(m *irc.Message) {
	if len(m.Params) == 0 {
		i.reply(irc.RplEndOfNames, "*", "End of /NAMES list")
		return
	}
	for _, ch := range strings.Split(m.Params[0], ",") {
		if room, ok := roomOf(ch); ok && !i.hub.SecretFrom(&i.Member, room) {
			i.names(room)
		}
		i.reply(irc.RplEndOfNames, ch, "End of /NAMES list")
	}
}

func (i *ircConn) listCmd(*irc.Message) {
	i.reply(irc.RplListStart, "Channel", "Users  Name")
	for _, r := range i.hub.Rooms() {
		if !i.hub.SecretFrom(&i.Member, r.Name) {
			i.reply(irc.RplList, "#"+r.Name, strconv.Itoa(r.Members), r.Topic)
		}
	}
	i.reply(irc.RplListEnd, "End of /LIST")
}

func (i *ircConn) awayCmd(m *irc.Message) {
	if err := i.hub.SetAway(&i.Member, m.Param(0)); err != nil {
		i.notice("Away message refused: " + errText(err))
		return
	}
	if i.away == "" {
		i.reply(irc.RplUnaway, "You are no longer marked as being away")
	} else {
		i.reply(irc.RplNowAway, "You have been marked as being away")
	}
}

func (i *ircConn) userhostCmd(m *irc.Message) {
	h := i.hub
	var out []string
	for _, n := range m.Params[:min(5, len(m.Params))] {
		if t := h.lookup(n); t != nil {
			out = append(out, t.nick+"=+"+t.ident)
		} else if w, _, ok := h.Remote(n); ok {
			out = append(out, w.Nick+"=+"+w.Ident)
		}
	}
	i.reply(irc.RplUserhost, strings.Join(out, " "))
}

func (i *ircConn) isonCmd(m *irc.Message) {
	h := i.hub
	var out []string
	for _, p := range m.Params {
		for _, n := range strings.Fields(p) {
			if t := h.lookup(n); t != nil {
				out = append(out, t.nick)
			} else if w, _, ok := h.Remote(n); ok {
				out = append(out, w.Nick)
			}
		}
	}
	i.reply(irc.RplIson, strings.Join(out, " "))
}

func (i *ircConn) motdCmd(*irc.Message)   { i.motd() }
func (i *ircConn) lusersCmd(*irc.Message) { i.lusers() }

func (i *ircConn) versionCmd(*irc.Message) {
	i.reply(irc.RplVersion, Version, i.hub.o.ServerName, "")
}

// info is what INFO answers, a line each.
var info = []string{
	"portside chat (" + Version + "): rooms with a line door for nc and telnet,",
	"an IRC door and a browser door, on one hub; history in SQLite or NATS.",
}

func (i *ircConn) infoCmd(*irc.Message) {
	for _, l := range info {
		i.reply(irc.RplInfo, l)
	}
	i.reply(irc.RplInfo, "Up since "+fmtTime(i.hub.started))
	i.reply(irc.RplEndOfInfo, "End of /INFO list")
}

func (i *ircConn) timeCmd(*irc.Message) {
	i.reply(irc.RplTime, i.hub.o.ServerName, i.hub.o.Now().UTC().Format("Monday January 2 2006 -- 15:04:05 UTC"))
}

func (i *ircConn) cap(m *irc.Message) {
	switch strings.ToUpper(m.Param(0)) {
	case "LS":
		if !i.registered {
			i.negotiate = true
		}
		var names []string
		for _, c := range capabilities {
			names = append(names, c.name)
		}
		i.send("CAP", i.me(), "LS", strings.Join(names, " "))
	case "LIST":
		var names []string
		for _, c := range capabilities {
			if i.caps&c.bit != 0 {
				names = append(names, c.name)
			}
		}
		i.send("CAP", i.me(), "LIST", strings.Join(names, " "))
	case "REQ":
		if !i.registered {
			i.negotiate = true
		}
		caps := i.caps
		for _, want := range strings.Fields(m.Param(1)) {
			off := strings.HasPrefix(want, "-")
			j := slices.IndexFunc(capabilities, func(c capability) bool {
				return c.name == strings.TrimPrefix(want, "-")
			})
			if j < 0 {
				i.send("CAP", i.me(), "NAK", m.Param(1))
				return
			}
			if off {
				caps &^= capabilities[j].bit
			} else {
				caps |= capabilities[j].bit
			}
		}
		i.caps = caps
		i.format.Store(uint32(i.hub.ircFmt[caps&encodingCaps]))
		i.send("CAP", i.me(), "ACK", m.Param(1))
	case "END":
		if i.negotiate {
			i.negotiate = false
			i.tryRegister()
		}
	default:
		i.reply("410", m.Param(0), "Invalid CAP command")
	}
}

func (i *ircConn) nickCmd(m *irc.Message) bool {
	h := i.hub
	nick := m.Param(0)
	if nick == "" {
		i.reply(irc.ErrNoNicknameGiven, "No nickname given")
		return false
	}
	if !irc.ValidNick(nick, nickLen) {
		i.reply(irc.ErrErroneusNickname, nick, "Erroneous nickname")
		return false
	}
	if !i.registered {
		i.wantNick = nick
		return i.tryRegister()
	}
	if nick == i.nick {
		return false
	}
	err := h.Rename(&i.Member, nick, func(err error) {
		i.gate.Resume(i.c, func() { i.renamed(nick, err) }, i.lines)
	})
	if errors.Is(err, ErrPending) {
		i.gate.Hold()
		return false
	}
	i.renamed(nick, err)
	return false
}

// renamed answers a NICK once registered: the hub told the client the new
// nick if it was granted.
func (i *ircConn) renamed(nick string, err error) {
	if err != nil {
		i.reply(irc.ErrNicknameInUse, nick, "Nickname is already in use")
	}
}

// tryRegister completes registration once NICK and USER are in and
// capability negotiation is over.
func (i *ircConn) tryRegister() bool {
	h := i.hub
	if i.registered || i.wantNick == "" || i.user == "" || i.negotiate {
		return false
	}
	if h.o.Password != "" && !i.passOK {
		if !i.passGiven {
			return i.passwordChecked(ErrPassword)
		}
		// An address that gave wrong passwords lately waits for its
		// turn; what the client sends meanwhile waits too.
		wait, err := h.CheckPassword(Host(i.c.RemoteAddr()), i.pass)
		if errors.Is(err, ErrPending) {
			i.gate.Hold()
			i.pwWait = true
			i.c.SetTimer(wait) // timer checks it
			return false
		}
		return i.passwordChecked(err)
	}
	nick := i.wantNick
	err := h.Register(&i.Member, nick, i.user+"@"+Host(i.c.RemoteAddr()), i.real, func(err error) {
		i.gate.Resume(i.c, func() {
			if i.welcome(nick, err) {
				i.done = true
			}
		}, i.lines)
	})
	if errors.Is(err, ErrPending) {
		i.gate.Hold()
		return false
	}
	return i.welcome(nick, err)
}

// timer checks the password that waited for its turn, and goes on with
// the input held meanwhile.
func (i *ircConn) timer() {
	if !i.pwWait {
		return
	}
	i.pwWait = false
	err := i.hub.CheckPasswordNow(Host(i.c.RemoteAddr()), i.pass)
	i.gate.Resume(i.c, func() {
		if i.passwordChecked(err) {
			i.done = true
		}
	}, i.lines)
}

// passwordChecked goes on with registration if the password was right,
// else closes the connection; it reports whether the connection is done.
func (i *ircConn) passwordChecked(err error) bool {
	if err != nil {
		i.reply(irc.ErrPasswdMismatch, "Password incorrect")
		i.gone.CompareAndSwap(nil, ptr("bad password"))
		i.send("ERROR", "Closing Link: "+Host(i.c.RemoteAddr())+" (Bad password)")
		i.c.Close()
		return true
	}
	i.passOK = true
	return i.tryRegister()
}

// welcome answers a registration: 001 to 005, LUSERS and MOTD, or why not.
// It reports whether the connection is done.
func (i *ircConn) welcome(nick string, err error) bool {
	h := i.hub
	if errors.Is(err, ErrNickInUse) {
		i.reply(irc.ErrNicknameInUse, nick, "Nickname is already in use")
		return false
	}
	if errors.Is(err, ErrBadText) {
		// Only the real name can break the text rules: USER again.
		i.user = ""
		i.notice("Your real name may not hold NUL characters: send USER again without them.")
		return false
	}
	if err != nil {
		i.send("ERROR", err.Error())
		i.c.Close()
		return true
	}
	i.registered = true
	o := &h.o
	i.reply(irc.RplWelcome, "Welcome to the portside IRC network, "+i.source())
	i.reply(irc.RplYourHost, "Your host is "+o.ServerName+", running version "+Version)
	i.reply(irc.RplCreated, "This server was created "+fmtTime(h.started))
	i.reply(irc.RplMyInfo, o.ServerName, Version, "i", "biklmnostv", "bklov")
	i.reply(irc.RplISupport, "AWAYLEN=390", "CASEMAPPING=ascii", "CHANLIMIT=#:"+strconv.Itoa(o.MaxRooms),
		"CHANMODES="+chanModes, "CHANNELLEN=51", "CHANTYPES=#", "CHATHISTORY="+strconv.Itoa(maxChathistory),
		"KEYLEN="+strconv.Itoa(MaxKeyLen), "MAXLIST=b:"+strconv.Itoa(MaxBans), "MAXTARGETS=4",
		"are supported by this server")
	i.reply(irc.RplISupport, "MODES="+strconv.Itoa(MaxModes), "MSGREFTYPES=msgid", "NETWORK=portside",
		"NICKLEN="+strconv.Itoa(nickLen), "PREFIX="+userPrefix, "TOPICLEN="+strconv.Itoa(o.MaxMessage),
		"are supported by this server")
	i.lusers()
	i.motd()
	return false
}

func (i *ircConn) lusers() {
	members, rooms := i.hub.Counts()
	i.reply(irc.RplLuserClient, fmt.Sprintf("There are %d users and 0 invisible on 1 servers", members))
	i.reply(irc.RplLuserOp, strconv.FormatInt(i.hub.opers.Load(), 10), "operator(s) online")
	i.reply(irc.RplLuserChannels, strconv.Itoa(rooms), "channels formed")
	i.reply(irc.RplLuserMe, fmt.Sprintf("I have %d clients and 0 servers", members))
}

func (i *ircConn) motd() {
	motd := i.hub.o.MOTD
	if len(motd) == 0 {
		i.reply(irc.ErrNoMotd, "MOTD File is missing")
		return
	}
	i.reply(irc.RplMotdStart, "- "+i.hub.o.ServerName+" Message of the day - ")
	for _, l := range motd {
		i.reply(irc.RplMotd, "- "+l)
	}
	i.reply(irc.RplEndOfMotd, "End of /MOTD command.")
}

// roomOf maps an IRC channel name to a room name.
func roomOf(ch string) (string, bool) {
	if !strings.HasPrefix(ch, "#") {
		return "", false
	}
	room := irc.Fold(ch[1:])
	return room, ValidRoom(room)
}

func (i *ircConn) joinCmd(m *irc.Message) {
	h := i.hub
	if m.Params[0] == "0" {
		for _, name := range slices.Backward(h.RoomNames(&i.Member)) {
			h.Part(&i.Member, name, "")
		}
		return
	}
	var keys []string
	if len(m.Params) > 1 {
		keys = strings.Split(m.Params[1], ",")
	}
	i.joinList(strings.Split(m.Params[0], ","), keys)
}

// joinList joins the channels in turn. A join that must wait for the node
// to catch up with its room holds the client's input, and the rest of the
// list goes on from the answer.
func (i *ircConn) joinList(chs, keys []string) {
	h := i.hub
	for n, ch := range chs {
		room, ok := roomOf(ch)
		if !ok {
			i.reply(irc.ErrNoSuchChannel, ch, "No such channel")
			continue
		}
		key := ""
		if n < len(keys) {
			key = keys[n]
		}
		err := h.JoinKey(&i.Member, room, key, func(r *Room) {
			if r.topic != "" {
				i.reply(irc.RplTopic, "#"+room, r.topic)
				i.reply(irc.RplTopicWhoTime, "#"+room, r.topicBy, strconv.FormatInt(r.topicAt.Unix(), 10))
			}
			i.namesLocked(r)
			i.reply(irc.RplEndOfNames, "#"+room, "End of /NAMES list")
		}, func(err error) {
			i.gate.Resume(i.c, func() {
				i.joined(ch, err)
				i.joinList(chs[n+1:], keys[min(n+1, len(keys)):])
			}, i.lines)
		})
		if errors.Is(err, ErrPending) {
			i.gate.Hold()
			return
		}
		i.joined(ch, err)
	}
}

// joined answers a failed join.
func (i *ircConn) joined(ch string, err error) {
	switch {
	case errors.Is(err, ErrTooMany):
		i.reply(irc.ErrTooManyChannels, ch, "You have joined too many channels")
	case errors.Is(err, ErrRoomFull):
		i.reply(irc.ErrChannelIsFull, ch, "Cannot join channel (+l)")
	case errors.Is(err, ErrBanned):
		i.reply(irc.ErrBannedFromChan, ch, "Cannot join channel (+b)")
	case errors.Is(err, ErrInviteOnly):
		i.reply(irc.ErrInviteOnlyChan, ch, "Cannot join channel (+i)")
	case errors.Is(err, ErrBadKey):
		i.reply(irc.ErrBadChannelKey, ch, "Cannot join channel (+k)")
	case errors.Is(err, ErrTooManyRooms):
		// 405 is the client's own limit; this is the server's, and the
		// channel does not exist, so 403 with the reason.
		i.reply(irc.ErrNoSuchChannel, ch, fmt.Sprintf("Cannot create channel: the server has its most (%d); join one that exists", i.hub.o.MaxTotalRooms))
	case errors.Is(err, ErrBadRoom):
		i.reply(irc.ErrNoSuchChannel, ch, "No such channel")
	case errors.Is(err, ErrNotReady):
		i.reply(irc.ErrUnavailResource, ch, "Channel is temporarily unavailable, try again")
	case errors.Is(err, ErrClosed):
	case err != nil:
		i.notice(err.Error())
	}
}

// namesLocked sends RPL_NAMREPLY for r, whose lock is held, and the hub's:
// the hub calls it in a Join callback.
func (i *ircConn) namesLocked(r *Room) {
	nicks := r.Nicks()
	slices.Sort(nicks)
	i.namesReply(r.name, i.hub.prefixedLocked(r.name, nicks))
}

// namesReply sends RPL_NAMREPLY for room's nicks, prefixed, in lines that
// fit IRC's limit.
func (i *ircConn) namesReply(room string, nicks []string) {
	for len(nicks) > 0 {
		n, size := 0, 0
		for n < len(nicks) && size+len(nicks[n])+1 < 400 {
			size += len(nicks[n]) + 1
			n++
		}
		i.reply(irc.RplNamReply, "=", "#"+room, strings.Join(nicks[:n], " "))
		nicks = nicks[n:]
	}
}

func (i *ircConn) names(room string) {
	i.namesReply(room, i.hub.NamesOf(room))
}

func (i *ircConn) message(m *irc.Message) {
	h := i.hub
	notice := m.Command == "NOTICE"
	if len(m.Params) == 0 {
		if !notice {
			i.reply(irc.ErrNoRecipient, "No recipient given ("+m.Command+")")
		}
		return
	}
	text := m.Param(1)
	if len(m.Params) < 2 || text == "" {
		if !notice {
			i.reply(irc.ErrNoTextToSend, "No text to send")
		}
		return
	}
	kind := Say
	if notice {
		kind = Notice
	} else if a, ok := strings.CutPrefix(text, "\x01ACTION "); ok {
		kind, text = Action, strings.TrimSuffix(a, "\x01")
	}
	targets := strings.Split(m.Params[0], ",")
	if len(targets) > 4 {
		targets = targets[:4]
	}
	for _, t := range targets {
		if strings.HasPrefix(t, "#") {
			room, ok := roomOf(t)
			var err error
			if !ok || h.Members(room) == nil {
				err = ErrBadRoom
			} else {
				err = h.Say(&i.Member, room, kind, text)
			}
			if err != nil && !notice {
				switch {
				case errors.Is(err, ErrBadRoom):
					i.reply(irc.ErrNoSuchChannel, t, "No such channel")
				case errors.Is(err, ErrNotIn):
					i.reply(irc.ErrCannotSendToChan, t, "Cannot send to channel")
				case errors.Is(err, ErrModerated):
					i.reply(irc.ErrCannotSendToChan, t, "Cannot send to channel (+m)")
				case errors.Is(err, ErrBanned):
					i.reply(irc.ErrCannotSendToChan, t, "Cannot send to channel (+b)")
				case errors.Is(err, ErrTooLong):
					i.reply(irc.ErrCannotSendToChan, t, fmt.Sprintf("Message too long (at most %d bytes)", h.o.MaxMessage))
				case errors.Is(err, ErrBadText):
					i.reply(irc.ErrCannotSendToChan, t, "Message may not hold NUL characters")
				default:
					i.reply(irc.ErrCannotSendToChan, t, strings.TrimPrefix(err.Error(), "chat: "))
				}
			}
			continue
		}
		away, err := h.Tell(&i.Member, t, kind, text)
		if notice {
			continue
		}
		switch {
		case errors.Is(err, ErrNoSuchNick):
			i.reply(irc.ErrNoSuchNick, t, "No such nick/channel")
		case err != nil:
			i.notice("Not sent to " + t + ": " + errText(err))
		case away != "":
			i.reply(irc.RplAway, t, away)
		}
	}
}

func (i *ircConn) topic(m *irc.Message) {
	h := i.hub
	ch := m.Params[0]
	room, ok := roomOf(ch)
	var t RoomTopic
	var members int
	if ok {
		t, members, ok = h.TopicOf(room)
	}
	if !ok || members == 0 {
		i.reply(irc.ErrNoSuchChannel, ch, "No such channel")
		return
	}
	if len(m.Params) == 1 {
		if t.Text == "" {
			i.reply(irc.RplNoTopic, ch, "No topic is set")
			return
		}
		i.reply(irc.RplTopic, ch, t.Text)
		i.reply(irc.RplTopicWhoTime, ch, t.By, strconv.FormatInt(t.At.Unix(), 10))
		return
	}
	switch err := h.SetTopic(&i.Member, room, m.Params[1]); {
	case errors.Is(err, ErrNotIn):
		i.reply(irc.ErrNotOnChannel, ch, "You're not on that channel")
	case errors.Is(err, ErrNotOp):
		i.reply(irc.ErrChanOPrivsNeeded, ch, "You're not channel operator")
	case err != nil:
		i.notice("Topic not set: " + errText(err))
	}
}

// whoLine sends RPL_WHOREPLY for a member of this hub; channel is the
// channel asked about, or "*".
func (i *ircConn) whoLine(channel string, m Listed) {
	user, hst, _ := strings.Cut(m.Ident, "@")
	flag := "H"
	if m.Away != "" {
		flag = "G"
	}
	flag += m.Prefix
	i.reply(irc.RplWhoReply, channel, user, hst, i.hub.o.ServerName, m.Nick, flag, "0 "+m.Real)
}

func (i *ircConn) who(mask string) {
	h := i.hub
	if room, ok := roomOf(mask); ok {
		here, elsewhere := h.WhoIn(room)
		for _, m := range here {
			i.whoLine(mask, m)
		}
		for _, n := range elsewhere {
			if w, _, ok := h.Remote(n); ok {
				user, hst, _ := strings.Cut(w.Ident, "@")
				flag := "H" + h.Prefix(room, w.Nick)
				i.reply(irc.RplWhoReply, mask, user, hst, h.o.ServerName, w.Nick, flag, "1 "+w.Real)
			}
		}
	} else if mask != "" {
		t, here := h.WhoNick(mask)
		if here {
			i.whoLine("*", t)
		}
		if w, _, ok := h.Remote(mask); !here && ok {
			user, hst, _ := strings.Cut(w.Ident, "@")
			i.reply(irc.RplWhoReply, "*", user, hst, h.o.ServerName, w.Nick, "H", "1 "+w.Real)
		}
	}
	if mask == "" {
		mask = "*"
	}
	i.reply(irc.RplEndOfWho, mask, "End of /WHO list")
}

func (i *ircConn) whois(nick string) {
	h := i.hub
	w, ok := h.WhoisOf(&i.Member, nick)
	if !ok {
		i.whoisRemote(nick)
		return
	}
	user, hst, _ := strings.Cut(w.Ident, "@")
	var chans []string
	for j, r := range w.Rooms {
		chans = append(chans, w.Prefix[j]+"#"+r)
	}
	idle := int64(w.Idle / time.Second)
	i.reply(irc.RplWhoisUser, w.Nick, user, hst, "*", w.Real)
	if len(chans) > 0 {
		i.reply(irc.RplWhoisChannels, w.Nick, strings.Join(chans, " "))
	}
	i.reply(irc.RplWhoisServer, w.Nick, h.o.ServerName, "portside chat")
	if w.Oper {
		i.reply(irc.RplWhoisOperator, w.Nick, "is an IRC operator")
	}
	if w.Away != "" {
		i.reply(irc.RplAway, w.Nick, w.Away)
	}
	i.reply(irc.RplWhoisIdle, w.Nick, strconv.FormatInt(max(idle, 0), 10), strconv.FormatInt(w.Since.Unix(), 10), "seconds idle, signon time")
	i.reply(irc.RplEndOfWhois, w.Nick, "End of /WHOIS list")
}

// whoisRemote answers WHOIS for a nick held on another node, or not at all.
func (i *ircConn) whoisRemote(nick string) {
	w, rooms, ok := i.hub.Remote(nick)
	if !ok {
		i.reply(irc.ErrNoSuchNick, nick, "No such nick/channel")
		i.reply(irc.RplEndOfWhois, nick, "End of /WHOIS list")
		return
	}
	user, hst, _ := strings.Cut(w.Ident, "@")
	i.reply(irc.RplWhoisUser, w.Nick, user, hst, "*", w.Real)
	if len(rooms) > 0 {
		chans := make([]string, len(rooms))
		for j, r := range rooms {
			chans[j] = "#" + r
		}
		i.reply(irc.RplWhoisChannels, w.Nick, strings.Join(chans, " "))
	}
	i.reply(irc.RplWhoisServer, w.Nick, i.hub.o.ServerName, "portside chat, another node")
	i.reply(irc.RplEndOfWhois, w.Nick, "End of /WHOIS list")
}

// chathistory answers draft/chathistory's LATEST and BEFORE, by msgid,
// in a batch.
func (i *ircConn) chathistory(m *irc.Message) {
	h := i.hub
	fail := func(code, text string, ctx ...string) {
		i.send("FAIL", append(append([]string{"CHATHISTORY", code}, ctx...), text)...)
	}
	if i.caps&capChathistory == 0 {
		i.reply(irc.ErrUnknownCommand, m.Command, "Unknown command")
		return
	}
	sub := strings.ToUpper(m.Param(0))
	if sub != "LATEST" && sub != "BEFORE" {
		fail("INVALID_PARAMS", "Only LATEST and BEFORE are supported", sub)
		return
	}
	if len(m.Params) < 4 {
		fail("INVALID_PARAMS", "Not enough parameters", sub)
		return
	}
	target, ref := m.Params[1], m.Params[2]
	limit, err := strconv.Atoi(m.Params[3])
	if err != nil || limit <= 0 {
		fail("INVALID_PARAMS", "Bad limit", sub, m.Params[3])
		return
	}
	limit = min(limit, maxChathistory)
	room, ok := roomOf(target)
	if !ok || !h.InRoom(&i.Member, room) {
		fail("INVALID_TARGET", "Not a channel you are in", sub, target)
		return
	}
	// A msgid is ROOM/SEQ: its place in the room's order.
	var seq uint64
	if ref != "*" {
		id, found := strings.CutPrefix(ref, "msgid=")
		r, n, _ := strings.Cut(id, "/")
		s, err := strconv.ParseUint(n, 10, 64)
		if !found || r != room || err != nil {
			fail("INVALID_MSGREFTYPE", "References are msgid=ROOM/SEQ, or *", sub, ref)
			return
		}
		seq = s
	} else if sub == "BEFORE" {
		fail("INVALID_PARAMS", "BEFORE needs a msgid", sub, ref)
		return
	}
	before, after := uint64(0), uint64(0)
	if sub == "BEFORE" {
		before = seq
	} else {
		after = seq
	}
	i.batches++
	id := "h" + strconv.FormatUint(uint64(i.batches), 10)
	caps, c, server := i.caps, i.c, h.o.ServerName
	h.o.Backend.History(room, before, limit, func(msgs []*Msg, err error) {
		if err != nil {
			c.Write([]byte(":" + server + " FAIL CHATHISTORY MESSAGE_ERROR " + sub + " " + target + " :" + err.Error() + "\r\n"))
			return
		}
		var buf, one []byte
		batched := caps&capBatch != 0
		if batched {
			buf = append(buf, ":"+server+" BATCH +"+id+" chathistory "+target+"\r\n"...)
		}
		for _, m := range msgs {
			if m.Seq <= after {
				continue
			}
			one = h.encodeIRC(one[:0], m, caps&encodingCaps)
			if batched {
				buf = inBatch(buf, one, id)
			} else {
				buf = append(buf, one...)
			}
		}
		if batched {
			buf = append(buf, ":"+server+" BATCH -"+id+"\r\n"...)
		}
		c.Write(buf)
	})
}

// Ping implements Door.
func (i *ircConn) Ping(*Member) {
	i.send("PING", i.hub.o.ServerName)
}

// Kick implements Door.
func (i *ircConn) Kick(_ *Member, reason string) {
	i.send("ERROR", "Closing Link: "+Host(i.c.RemoteAddr())+" ("+reason+")")
	i.c.Close()
}

func (i *ircConn) eof(rest []byte) { i.gate.EOF(i.c, rest) }

func (i *ircConn) closed(err error) {
	i.gate.Close(func() { i.hub.Quit(&i.Member, quitReason(&i.Member, err)) })
}

func (i *ircConn) drain() {
	i.gone.CompareAndSwap(nil, ptr("server shutting down"))
	i.send("ERROR", "Server shutting down")
	i.c.Close()
}

// errText is err for a client: without the package's prefix.
func errText(err error) string { return strings.TrimPrefix(err.Error(), "chat: ") }
