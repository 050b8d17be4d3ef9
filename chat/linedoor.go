package chat

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/portside/portside/proto/chatline"
	"github.com/portside/portside/proto/irc"
	"github.com/portside/portside/proto/line"
	"github.com/portside/portside/server"
)

// lineConn is a person on the line door: nc or telnet. They are in at most
// one room at a time, the one plain lines go to.
type lineConn struct {
	Member
	hub   *Hub
	c     server.Conn
	gate  Gate   // holds input while a nick claim is out, or behind a message
	state uint8  // lineName, linePassword, lineChat, lineDone
	name  string // asked for, while the password is being asked
	room  string // the current room, "" for none
	// A password waiting for its turn to be checked: the connection's
	// timer is armed for it (CheckPassword).
	pw     string
	pwWait bool
}

// timer checks the password that waited for its turn, and goes on with
// the input held meanwhile.
func (l *lineConn) timer() {
	if !l.pwWait {
		return
	}
	pw := l.pw
	l.pw, l.pwWait = "", false
	err := l.hub.CheckPasswordNow(Host(l.c.RemoteAddr()), pw)
	l.gate.Resume(l.c, func() {
		if l.passwordChecked(err) {
			l.state = lineDone
		}
	}, l.lines)
}

const (
	lineName uint8 = iota
	linePassword
	lineChat
	lineDone // the connection is closing: input is ignored
)

// lineMax bounds one typed line: well above a message, well below what
// would let a line hold memory.
const lineMax = 4096

// newLine makes the line door's connection c, which opened at since (unix
// nanoseconds).
func (h *Hub) newLine(c server.Conn, since int64) *lineConn {
	l := &lineConn{hub: h, c: c}
	l.out = c
	l.door = l
	l.format.Store(uint32(h.lineFmt))
	l.touch(h.o.Now())
	h.arrive(&l.Member, since)
	return l
}

// say writes the lines of s (separated by CRLF) to the person. What they
// quote (a nick, a topic, an away message) goes through appendLineText
// like everything the door shows: nothing in it starts a line or reaches
// the terminal as a control.
func (l *lineConn) say(s string) { l.c.Write(appendLines(nil, s)) }

func appendLines(dst []byte, s string) []byte {
	for {
		line, rest, more := strings.Cut(s, "\r\n")
		dst = appendLineText(dst, line)
		dst = append(dst, '\r', '\n')
		if !more {
			return dst
		}
		s = rest
	}
}

func (l *lineConn) data(in []byte) (int, error) { return l.gate.Data(in, l.lines) }

// lines handles the complete lines of in, under the gate.
func (l *lineConn) lines(in []byte) (int, error) {
	if l.state == lineDone {
		return len(in), nil
	}
	sc := line.NewScanner(in, lineMax)
	for {
		start := sc.Used
		if !sc.Scan() {
			break
		}
		if l.state == lineChat && l.hub.Sending(&l.Member, l.saysIn(sc.Line()), l.sent) {
			// A message of the person's is on its way: this line waits
			// for it to reach the room, so that a command's answer
			// (or a move to another room) never overtakes it.
			l.gate.HoldBrief()
			return start, nil
		}
		now := l.hub.o.Now()
		l.touch(now)
		// Flood control from the first line: before login too, a
		// client's lines cost the server work.
		if !l.bucket.allow(&l.hub.o, now) {
			if l.bucket.flooding(&l.hub.o) {
				l.hub.Disconnect(&l.Member, "excess flood")
				return len(in), nil
			}
			l.say("! Slow down: flood control dropped that line.")
			continue
		}
		if l.input(sc.Line()) {
			l.state = lineDone
			return len(in), nil
		}
		if l.gate.holding {
			return sc.Used, nil
		}
	}
	if err := sc.Err(); err != nil {
		return sc.Used, fmt.Errorf("%w (over %d bytes)", err, lineMax)
	}
	return sc.Used, nil
}

// sent goes on with the input held behind the person's messages, now that
// they have reached the room.
func (l *lineConn) sent() { l.gate.Resume(l.c, func() {}, l.lines) }

// saysIn is the room a line would be said in, or "" if it is a command.
func (l *lineConn) saysIn(b []byte) string {
	cmd, err := chatline.Parse(b)
	if err != nil || (cmd.Kind != chatline.Say && cmd.Kind != chatline.Me) {
		return ""
	}
	return l.room
}

// input handles one line and reports whether the connection is done.
func (l *lineConn) input(b []byte) bool {
	h := l.hub
	switch l.state {
	case lineName:
		name := strings.TrimSpace(string(b))
		if name == "" {
			l.say("What is your name?")
			return false
		}
		if !irc.ValidNick(name, nickLen) {
			l.say("! A name is 1 to 30 letters, digits or -_[]\\`^{|}, starting with a letter. What is your name?")
			return false
		}
		if h.o.Password != "" {
			l.name = name
			l.state = linePassword
			l.say("Password?")
			return false
		}
		return l.login(name)
	case linePassword:
		// An address that gave wrong passwords lately waits for its
		// turn; what the person types meanwhile waits too.
		wait, err := h.CheckPassword(Host(l.c.RemoteAddr()), string(b))
		if errors.Is(err, ErrPending) {
			l.gate.Hold()
			l.pw, l.pwWait = string(b), true
			l.c.SetTimer(wait) // timer checks it
			return false
		}
		return l.passwordChecked(err)
	}
	cmd, err := chatline.Parse(b)
	var ue *chatline.UsageError
	switch {
	case errors.Is(err, chatline.ErrEmpty):
		return false
	case errors.Is(err, chatline.ErrUTF8):
		l.say("! That line was not valid UTF-8; it was dropped.")
		return false
	case errors.As(err, &ue):
		l.say("! Usage: " + chatline.Usage[ue.Kind])
		return false
	case errors.Is(err, chatline.ErrUnknown):
		l.say("! Unknown command. /help lists them; start a line with // to say one beginning with /.")
		return false
	}
	return l.command(cmd)
}

// passwordChecked logs the person in if the password was right, else
// says goodbye; it reports whether the connection is done.
func (l *lineConn) passwordChecked(err error) bool {
	if err != nil {
		l.gone.Store(ptr("wrong password"))
		l.say("! Wrong password. Bye.")
		l.c.Close()
		return true
	}
	return l.login(l.name)
}

func ptr(s string) *string { return &s }

const nickLen = 30

// login registers the name and enters the default room. If the name must
// be claimed from the cluster first, the input behind it waits.
func (l *lineConn) login(name string) bool {
	err := l.hub.Register(&l.Member, name, name+"@"+Host(l.c.RemoteAddr()), name, func(err error) {
		l.gate.Resume(l.c, func() {
			if l.loggedIn(name, err) {
				l.state = lineDone
			}
		}, l.lines)
	})
	if errors.Is(err, ErrPending) {
		l.gate.Hold()
		return false
	}
	return l.loggedIn(name, err)
}

// loggedIn tells the person the outcome of login, and reports whether the
// connection is done.
func (l *lineConn) loggedIn(name string, err error) bool {
	h := l.hub
	switch {
	case errors.Is(err, ErrNickInUse):
		l.state = lineName
		l.say("! The name " + name + " is taken. What is your name?")
		return false
	case err != nil:
		l.gone.Store(ptr(err.Error()))
		l.say("! " + err.Error())
		l.c.Close()
		return true
	}
	l.state = lineChat
	l.say("Hello " + name + "! Type /help for the commands.")
	if h.o.DefaultRoom != "" {
		l.join(h.o.DefaultRoom, "")
	}
	return false
}

const lineHelp = "Commands:\r\n" +
	"  /join ROOM [KEY]     enter ROOM (leaving the room you are in)\r\n" +
	"  /part [REASON]       leave the room\r\n" +
	"  /nick NEW            change your name\r\n" +
	"  /who                 who is in the room\r\n" +
	"  /rooms               the rooms and how many are in each\r\n" +
	"  /msg NICK TEXT       a private message\r\n" +
	"  /me ACTION           say what you do: /me waves\r\n" +
	"  /history [N]         the room's last N messages (default 20)\r\n" +
	"  /topic [TEXT]        show or set the room's topic\r\n" +
	"  /whowas NICK         who had the name NICK lately\r\n" +
	"Operators of a room:\r\n" +
	"  /op NICK, /deop NICK, /voice NICK, /devoice NICK\r\n" +
	"  /kick NICK [REASON]  /ban MASK  /unban MASK  (a MASK is nick!user@host, or a nick)\r\n" +
	"  /mute, /unmute       only operators and voiced members speak (+m)\r\n" +
	"  /invite NICK         let NICK in, though the room is invite only\r\n" +
	"  /mode [+/-FLAGS [PARAMS]]  the room's modes: i m n s t, k KEY, l LIMIT, b MASK\r\n" +
	"Server operators:\r\n" +
	"  /oper NAME PASSWORD  become a server operator\r\n" +
	"  /kill NICK [REASON]  disconnect NICK\r\n" +
	"  /wallops TEXT        tell every operator and whoever asked for WALLOPS\r\n" +
	"  /help                this list\r\n" +
	"  /quit [REASON]       leave\r\n" +
	"Anything else is said in the room; start a line with // to say one beginning with /."

func (l *lineConn) command(cmd chatline.Command) bool {
	h := l.hub
	l.refreshRoom()
	switch cmd.Kind {
	case chatline.Say, chatline.Me:
		if l.room == "" {
			l.say("! You are in no room: /join ROOM first.")
			return false
		}
		kind := Say
		if cmd.Kind == chatline.Me {
			kind = Action
		}
		l.sayErr(h.Say(&l.Member, l.room, kind, cmd.Text))
	case chatline.Join:
		l.join(strings.TrimPrefix(irc.Fold(cmd.Arg), "#"), cmd.Text)
	case chatline.Part:
		if l.room == "" {
			l.say("! You are in no room.")
			return false
		}
		if err := h.Part(&l.Member, l.room, cmd.Text); errors.Is(err, ErrBadText) {
			l.sayErr(err) // still in the room
			return false
		}
		l.room = ""
	case chatline.Nick:
		if !irc.ValidNick(cmd.Arg, nickLen) {
			l.say("! A name is 1 to 30 letters, digits or -_[]\\`^{|}, starting with a letter.")
			return false
		}
		nick := cmd.Arg
		err := h.Rename(&l.Member, nick, func(err error) {
			l.gate.Resume(l.c, func() { l.renamed(nick, err) }, l.lines)
		})
		if errors.Is(err, ErrPending) {
			l.gate.Hold()
			return false
		}
		l.renamed(nick, err)
	case chatline.Who:
		if l.room == "" {
			l.say("! You are in no room.")
			return false
		}
		nicks := h.NamesOf(l.room)
		l.say(fmt.Sprintf("* In %s (%d): %s", l.room, len(nicks), strings.Join(nicks, ", ")))
	case chatline.Rooms:
		rooms := slices.DeleteFunc(h.Rooms(), func(r RoomInfo) bool { return h.SecretFrom(&l.Member, r.Name) })
		if len(rooms) == 0 {
			l.say("* No rooms yet: /join ROOM makes one.")
			return false
		}
		var b strings.Builder
		b.WriteString("* Rooms: ")
		for i, r := range rooms {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s (%d)", r.Name, r.Members)
		}
		l.say(b.String())
	case chatline.Msg:
		away, err := h.Tell(&l.Member, cmd.Arg, Say, cmd.Text)
		if errors.Is(err, ErrNoSuchNick) {
			l.say("! No one is called " + cmd.Arg + ".")
			return false
		}
		if err != nil {
			l.sayErr(err)
			return false
		}
		l.say("-> *" + cmd.Arg + "* " + cmd.Text)
		if away != "" {
			l.say("* " + cmd.Arg + " is away: " + away)
		}
	case chatline.History:
		if l.room == "" {
			l.say("! You are in no room.")
			return false
		}
		n := cmd.N
		if n == 0 {
			n = 20
		}
		n = min(n, h.o.MaxHistory)
		room, c := l.room, l.c
		h.o.Backend.History(room, 0, n, func(msgs []*Msg, err error) {
			if err != nil {
				c.Write([]byte("! History is not available: " + err.Error() + "\r\n"))
				return
			}
			if len(msgs) == 0 {
				c.Write([]byte("* No messages in " + room + " yet.\r\n"))
				return
			}
			head := "* The last " + strconv.Itoa(len(msgs)) + " messages of " + room + ":\r\n"
			if len(msgs) == 1 {
				head = "* The last message of " + room + ":\r\n"
			}
			buf := []byte(head)
			for _, m := range msgs {
				buf = encodeLine(buf, m, true)
			}
			buf = append(buf, "* End of history.\r\n"...)
			c.Write(buf)
		})
	case chatline.Help:
		l.say(lineHelp)
	case chatline.Oper:
		h.Oper(&l.Member, Host(l.c.RemoteAddr()), cmd.Arg, cmd.Text, func(err error) {
			l.gate.Resume(l.c, func() { l.opered(err) }, l.lines)
		})
		// What the person types meanwhile waits for the answer.
		l.gate.Hold()
	case chatline.Kill:
		switch err := h.Kill(&l.Member, Host(l.c.RemoteAddr()), cmd.Arg, cmd.Text); {
		case errors.Is(err, ErrNoSuchNick):
			l.say("! No one is called " + cmd.Arg + ".")
		case err != nil:
			l.sayErr(err)
		}
	case chatline.Wallops:
		l.sayErr(h.Wallops(&l.Member, cmd.Text))
	case chatline.Whowas:
		l.whowas(cmd.Arg)
	case chatline.Op, chatline.Deop, chatline.Voice, chatline.Devoice, chatline.Kick, chatline.Ban,
		chatline.Unban, chatline.Mute, chatline.Unmute, chatline.Invite, chatline.Topic, chatline.Mode:
		l.moderate(cmd)
	case chatline.Quit:
		r := "Quit"
		if err := CheckText(cmd.Text); err != nil {
			l.sayErr(err)
			l.say("! You leave without a reason.")
		} else if cmd.Text != "" {
			r = "Quit: " + cmd.Text
		}
		l.gone.CompareAndSwap(nil, &r)
		h.Quit(&l.Member, r)
		l.say("Bye.")
		l.c.Close()
		return true
	}
	return false
}

// renamed tells the person the outcome of /nick; the hub told them the
// new name if it was granted.
func (l *lineConn) renamed(nick string, err error) {
	if err != nil {
		l.say("! The name " + nick + " is taken.")
	}
}

// join moves the person into room.
func (l *lineConn) join(room, key string) {
	h := l.hub
	if room == l.room {
		l.say("* You are already in " + room + ".")
		return
	}
	// The room the person is in is left as the join goes ahead, not after:
	// they see "left lobby" before "joined dev", and stay where they were
	// if the join fails.
	err := h.join(&l.Member, room, l.room, key, func(r *Room) {
		nicks := r.Nicks() // other nodes' members too, in a cluster
		slices.Sort(nicks) // prefixes (@, +) are for /who
		msg := fmt.Sprintf("* You are in %s with %d: %s", room, len(nicks), strings.Join(nicks, ", "))
		if r.topic != "" {
			msg += "\r\n* Topic: " + r.topic
		}
		l.say(msg)
	}, func(err error) {
		l.gate.Resume(l.c, func() { l.joined(room, err) }, l.lines)
	})
	if errors.Is(err, ErrPending) {
		// The node catches up with the room first; what the person
		// types meanwhile waits.
		l.gate.Hold()
		return
	}
	l.joined(room, err)
}

// joined finishes a join: the room joined is now the person's room.
func (l *lineConn) joined(room string, err error) {
	switch {
	case errors.Is(err, ErrBadRoom):
		l.say("! A room name is 1 to 50 letters, digits or -_.+")
		return
	case errors.Is(err, ErrRoomFull):
		l.say("! " + room + " is full.")
		return
	case errors.Is(err, ErrBanned):
		l.say("! You are banned from " + room + ".")
		return
	case errors.Is(err, ErrInviteOnly):
		l.say("! " + room + " is invite only: an operator may /invite you.")
		return
	case errors.Is(err, ErrBadKey):
		l.say("! " + room + " needs its key: /join " + room + " KEY")
		return
	case errors.Is(err, ErrTooManyRooms):
		l.say(fmt.Sprintf("! Cannot create %s: the server has its most rooms (%d). Join one that exists: /rooms lists them.", room, l.hub.o.MaxTotalRooms))
		return
	case err != nil:
		l.sayErr(err)
		return
	}
	l.room = room
}

// sayErr tells the person why something they said went nowhere.
func (l *lineConn) sayErr(err error) {
	switch {
	case err == nil:
	case errors.Is(err, ErrTooLong):
		l.say(fmt.Sprintf("! Message too long: at most %d bytes.", l.hub.o.MaxMessage))
	case errors.Is(err, ErrBadText):
		l.say("! Text may not hold CR, LF or NUL characters: that was not sent.")
	case errors.Is(err, ErrModerated):
		l.say("! " + l.room + " is moderated: only its operators and voiced members speak. That was not sent.")
	case errors.Is(err, ErrBanned):
		l.say("! You are banned from " + l.room + ": that was not sent.")
	default:
		l.say("! " + strings.TrimPrefix(err.Error(), "chat: "))
	}
}

// Ping implements Door: a person cannot answer one.
func (l *lineConn) Ping(*Member) {}

// Kick implements Door.
func (l *lineConn) Kick(_ *Member, reason string) {
	l.c.Write(appendLines(nil, "* Disconnected: "+reason))
	l.c.Close()
}

func (l *lineConn) eof(rest []byte) { l.gate.EOF(l.c, rest) }

func (l *lineConn) closed(err error) {
	l.gate.Close(func() { l.hub.Quit(&l.Member, quitReason(&l.Member, err)) })
}

func (l *lineConn) drain() {
	l.gone.CompareAndSwap(nil, ptr("server shutting down"))
	l.say("* Server shutting down. Bye.")
	l.c.Close()
}
