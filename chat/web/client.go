package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/gobwas/ws"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/proto/irc"
	"github.com/portside/portside/server"
)

// client is one browser: an httpd.Takeover once the upgrade is answered,
// and the hub's chat.Door for its member.
type client struct {
	d       *Door
	addr    string
	c       server.Conn
	m       *chat.Member // nil if the connection was refused
	counted bool         // admitted by the hub's per-address cap
	gate    chat.Gate    // holds input while a nick claim is out, or behind a say
	held    bool         // the gate holds: frames wait for the answer
	pwWait  *request     // a hello waiting for its password's turn (Timer)
	next    *request     // waits for the browser's messages to arrive
	fr      frames
	rooms   []string
	closed  bool                   // a close frame was sent: ignore all but the answer
	gone    atomic.Pointer[string] // why it is leaving, for the others
}

// request is what a browser sends: one JSON object per text frame.
type request struct {
	Type     string `json:"type"`
	Nick     string `json:"nick"`
	Password string `json:"password"`
	Room     string `json:"room"`
	Since    uint64 `json:"since"`
	To       string `json:"to"`
	Text     string `json:"text"`
	Key      string `json:"key"`    // a room's key, for join
	Target   string `json:"target"` // the nick a kick or invite is for
}

// Door replies: the hub's fan-out is encodeFrame's wireMsg.
type (
	welcome struct {
		Type       string `json:"type"` // "welcome"
		Nick       string `json:"nick"`
		MaxMessage int    `json:"max_message"`
	}
	joined struct {
		Type    string   `json:"type"` // "joined"
		Room    string   `json:"room"`
		Members []string `json:"members"`
		Topic   string   `json:"topic,omitempty"`
	}
	members struct {
		Type    string   `json:"type"` // "members"
		Room    string   `json:"room"`
		Members []string `json:"members"`
		// Prefixes are "@" for the room's operators, "+" for its
		// voiced members, by nick.
		Prefixes map[string]string `json:"prefixes,omitempty"`
	}
	roomList struct {
		Type  string          `json:"type"` // "rooms"
		Rooms []chat.RoomInfo `json:"rooms"`
	}
	problem struct {
		Type string `json:"type"` // "error"
		Code string `json:"code"`
		Text string `json:"text"`
		Room string `json:"room,omitempty"`
	}
)

func (cl *client) send(v any) { cl.c.Write(appendJSON(nil, v)) }

func (cl *client) fail(code, room, text string) {
	cl.send(problem{Type: "error", Code: code, Room: room, Text: text})
}

// Data implements httpd.Takeover.
func (cl *client) Data(c server.Conn, in []byte) (int, error) {
	if cl.c == nil {
		// httpd hands the connection over at once, input or not.
		cl.c = c
		cl.fr.max = cl.d.max
		if err := cl.d.hub.AdmitConn(cl.addr); err != nil {
			cl.fail("too-many", "", "Too many connections from your address; try again later.")
			cl.closeWith(ws.StatusPolicyViolation, "too many connections from your address")
			return len(in), nil
		}
		cl.counted = true
		cl.m = cl.d.hub.NewMember(c, cl, cl.d.format, true)
	}
	if cl.m == nil {
		return len(in), nil
	}
	return cl.gate.Data(in, cl.frames)
}

// hold makes the gate hold input until the hub's answer (a nick claim, a
// join while the node catches up with the room).
func (cl *client) hold() {
	cl.held = true
	cl.gate.Hold()
}

// resume handles the hub's answer with then, and the frames that waited
// for it after.
func (cl *client) resume(then func()) {
	cl.gate.Resume(cl.c, func() {
		cl.held = false
		then()
	}, cl.frames)
}

// sent handles the request that waited for the browser's messages to
// reach their rooms, then the frames behind it.
func (cl *client) sent() {
	cl.resume(func() {
		r := cl.next
		cl.next = nil
		cl.request(r)
	})
}

// sayRoom is the room a say or action request is said in, or "" for any
// other request: one that must wait for the browser's messages to arrive.
func sayRoom(r *request) string {
	if r.Type == "say" || r.Type == "action" {
		return r.Room
	}
	return ""
}

// frames handles the complete frames of in, under the gate.
func (cl *client) frames(in []byte) (int, error) {
	used := 0
	for {
		n, f, err := cl.fr.next(in[used:])
		if err != nil {
			var ce *closeError
			if errors.As(err, &ce) {
				cl.closeWith(ce.code, ce.reason)
				return len(in), nil
			}
			return used, err
		}
		if n == 0 {
			return used, nil
		}
		used += n
		if f == nil {
			continue
		}
		cl.d.hub.Touch(cl.m)
		if (f.op == ws.OpText || f.op == ws.OpPing) && !cl.closed {
			// Flood control from the first frame, logged in or not.
			if ok, flooding := cl.d.hub.Allow(cl.m); !ok {
				if flooding {
					cl.d.hub.Disconnect(cl.m, "excess flood")
					return len(in), nil
				}
				if f.op == ws.OpText {
					cl.fail("flood", "", "Slow down: flood control dropped that.")
				}
				continue
			}
		}
		if cl.frame(f) {
			return len(in), nil
		}
		if cl.held {
			return used, nil
		}
	}
}

// closeWith starts the closing handshake, and closes once it is sent: a
// client that broke the protocol is not waited for.
func (cl *client) closeWith(code ws.StatusCode, reason string) {
	if cl.closed {
		return
	}
	cl.closed = true
	r := "websocket: " + reason
	cl.gone.CompareAndSwap(nil, &r)
	cl.c.Write(appendFrame(nil, ws.OpClose, ws.NewCloseFrameBody(code, reason)))
	cl.c.Close()
}

// frame handles one frame and reports whether the connection is done.
func (cl *client) frame(f *frame) bool {
	switch f.op {
	case ws.OpPing:
		cl.c.Write(appendFrame(nil, ws.OpPong, f.payload))
	case ws.OpPong:
	case ws.OpClose:
		code := ws.StatusNormalClosure
		if len(f.payload) >= 2 {
			code = ws.StatusCode(uint16(f.payload[0])<<8 | uint16(f.payload[1]))
		}
		if !cl.closed {
			cl.closed = true
			r := "connection closed"
			cl.gone.CompareAndSwap(nil, &r)
			cl.c.Write(appendFrame(nil, ws.OpClose, ws.NewCloseFrameBody(code, "")))
		}
		cl.c.Close()
		return true
	case ws.OpBinary:
		cl.closeWith(ws.StatusUnsupportedData, "text frames only")
		return true
	case ws.OpText:
		if cl.closed {
			return false
		}
		var r request
		if err := json.Unmarshal(f.payload, &r); err != nil {
			cl.fail("bad-request", "", "not a JSON object: "+err.Error())
			return false
		}
		if cl.m.Nick() != "" && cl.d.hub.Sending(cl.m, sayRoom(&r), cl.sent) {
			// A message of the browser's is on its way: this request
			// waits for it to reach the room, so that its answer never
			// overtakes it.
			cl.next = &r
			cl.hold()
			return false
		}
		return cl.request(&r)
	}
	return false
}

// request handles one request from the page.
func (cl *client) request(r *request) bool {
	h := cl.d.hub
	if cl.m.Nick() == "" {
		if r.Type != "hello" {
			cl.fail("hello-first", "", "say hello first")
			return false
		}
		return cl.hello(r)
	}
	switch r.Type {
	case "ping": // keeps the connection from going idle: Touch did that
	case "say", "action":
		kind := chat.Say
		if r.Type == "action" {
			kind = chat.Action
		}
		cl.sayErr(r.Room, h.Say(cl.m, r.Room, kind, r.Text))
	case "join":
		cl.join(strings.TrimPrefix(irc.Fold(r.Room), "#"), r.Key, r.Since)
	case "part":
		if err := h.Part(cl.m, r.Room, r.Text); err != nil {
			cl.sayErr(r.Room, err)
			return false
		}
		cl.rooms = slices.DeleteFunc(cl.rooms, func(s string) bool { return s == r.Room })
	case "msg":
		if _, err := h.Tell(cl.m, r.To, chat.Say, r.Text); err != nil {
			cl.sayErr("", err)
		}
	case "nick":
		if !irc.ValidNick(r.Nick, nickLen) {
			cl.fail("bad-nick", "", nickRule)
			return false
		}
		old, nick := cl.m.Nick(), r.Nick
		err := h.Rename(cl.m, nick, func(err error) {
			cl.resume(func() { cl.renamed(old, nick, err) })
		})
		if errors.Is(err, chat.ErrPending) {
			cl.hold()
			return false
		}
		cl.renamed(old, nick, err)
	case "who":
		cl.send(members{Type: "members", Room: r.Room, Members: h.Members(r.Room), Prefixes: h.Prefixes(r.Room)})
	case "rooms":
		rooms := slices.DeleteFunc(h.Rooms(), func(r chat.RoomInfo) bool { return h.SecretFrom(cl.m, r.Name) })
		cl.send(roomList{Type: "rooms", Rooms: rooms})
	case "quit":
		reason := "Quit"
		if err := chat.CheckText(r.Text); err != nil {
			cl.sayErr("", err) // and leave without the reason
		} else if r.Text != "" {
			reason = "Quit: " + r.Text
		}
		cl.gone.CompareAndSwap(nil, &reason)
		h.Quit(cl.m, reason)
		cl.closeWith(ws.StatusNormalClosure, "bye")
		return true
	default:
		if !cl.moderate(r) {
			cl.fail("bad-request", "", "unknown request type "+r.Type)
		}
	}
	return false
}

const (
	nickLen  = 30
	nickRule = "A name is 1 to 30 letters, digits or -_[]\\`^{|}, starting with a letter."
)

// hello logs the browser in: a name, and the server's password if it has
// one.
func (cl *client) hello(r *request) bool {
	// An address that gave wrong passwords lately waits for its turn; the
	// frames the browser sends meanwhile wait too.
	wait, err := cl.d.hub.CheckPassword(cl.addr, r.Password)
	if errors.Is(err, chat.ErrPending) {
		cl.hold()
		cl.pwWait = r
		cl.c.SetTimer(wait) // Timer checks it
		return false
	}
	return cl.passwordChecked(r, err)
}

// Timer implements server.TimerHandler (httpd hands an upgraded
// connection's timer to its Takeover): a password's turn has come.
func (cl *client) Timer(server.Conn) {
	r := cl.pwWait
	if r == nil {
		return
	}
	cl.pwWait = nil
	cl.resume(func() { cl.passwordChecked(r, cl.d.hub.CheckPasswordNow(cl.addr, r.Password)) })
}

// passwordChecked goes on with hello if the password was right, else
// closes; it reports whether the connection is done.
func (cl *client) passwordChecked(r *request, err error) bool {
	h := cl.d.hub
	if err != nil {
		cl.fail("password", "", "Wrong password.")
		reason := "wrong password"
		cl.gone.CompareAndSwap(nil, &reason)
		cl.closeWith(ws.StatusPolicyViolation, "wrong password")
		return true
	}
	if !irc.ValidNick(r.Nick, nickLen) {
		cl.fail("bad-nick", "", nickRule)
		return false
	}
	nick := r.Nick
	err = h.Register(cl.m, nick, nick+"@"+cl.addr, nick, func(err error) {
		cl.resume(func() { cl.welcome(nick, err) })
	})
	if errors.Is(err, chat.ErrPending) {
		cl.hold()
		return false
	}
	return cl.welcome(nick, err)
}

// welcome answers hello, and reports whether the connection is done.
func (cl *client) welcome(nick string, err error) bool {
	switch {
	case errors.Is(err, chat.ErrNickInUse):
		cl.fail("nick-in-use", "", "The name "+nick+" is taken.")
		return false
	case err != nil:
		cl.fail("closed", "", strings.TrimPrefix(err.Error(), "chat: "))
		cl.closeWith(ws.StatusGoingAway, "server shutting down")
		return true
	}
	cl.d.named(cl, "", nick)
	cl.send(welcome{Type: "welcome", Nick: nick, MaxMessage: cl.d.o.MaxMessage})
	return false
}

// renamed answers a nick request; the hub told the browser the new nick if
// it was granted.
func (cl *client) renamed(old, nick string, err error) {
	if err != nil {
		cl.fail("nick-in-use", "", "The name "+nick+" is taken.")
		return
	}
	cl.d.named(cl, old, nick)
}

// join enters a room. since is the last sequence number of the room the
// browser has seen, after a reconnect: what it missed is sent as history,
// beyond the replay every joiner gets. The browser drops what it has seen.
func (cl *client) join(room, key string, since uint64) {
	h, c := cl.d.hub, cl.c
	err := h.JoinKey(cl.m, room, key, func(r *chat.Room) {
		nicks := r.Nicks()
		slices.Sort(nicks)
		topic, _, _ := r.Topic()
		// Written under the room's lock, before the replay and any news.
		c.Write(appendJSON(nil, joined{Type: "joined", Room: room, Members: nicks, Topic: topic}))
	}, func(err error) {
		cl.resume(func() { cl.joined(room, since, err) })
	})
	if errors.Is(err, chat.ErrPending) {
		// The node catches up with the room first.
		cl.hold()
		return
	}
	cl.joined(room, since, err)
}

// joined finishes a join: what the browser missed since its last visit is
// sent as history.
func (cl *client) joined(room string, since uint64, err error) {
	o, c := &cl.d.o, cl.c
	if err != nil {
		cl.sayErr(room, err)
		return
	}
	if !slices.Contains(cl.rooms, room) {
		cl.rooms = append(cl.rooms, room)
	}
	// Who is an operator or voiced: the hub's lock is not at hand in the
	// join's callback.
	cl.send(members{Type: "members", Room: room, Members: cl.d.hub.Members(room), Prefixes: cl.d.hub.Prefixes(room)})
	if since == 0 {
		return
	}
	o.Backend.History(room, 0, o.MaxHistory, func(msgs []*chat.Msg, err error) {
		if err != nil {
			c.Write(appendJSON(nil, problem{Type: "error", Code: "history", Room: room, Text: "History is not available: " + err.Error()}))
			return
		}
		var buf []byte
		for _, m := range msgs {
			if m.Seq > since {
				buf = encodeFrame(buf, m, true)
			}
		}
		if len(buf) > 0 {
			c.Write(buf)
		}
	})
}

// sayErr tells the browser why a request went nowhere.
func (cl *client) sayErr(room string, err error) {
	switch {
	case err == nil:
	case errors.Is(err, chat.ErrTooLong):
		cl.fail("too-long", room, fmt.Sprintf("Message too long: at most %d bytes.", cl.d.o.MaxMessage))
	case errors.Is(err, chat.ErrBadText):
		cl.fail("bad-text", room, "Text may not hold CR, LF or NUL characters (line breaks): that was not sent.")
	case errors.Is(err, chat.ErrBadRoom):
		cl.fail("bad-room", room, "A room name is 1 to 50 letters, digits or -_.+")
	case errors.Is(err, chat.ErrNotIn):
		cl.fail("not-in", room, "You are not in "+room+".")
	case errors.Is(err, chat.ErrTooManyRooms):
		cl.fail("too-many-rooms", room, fmt.Sprintf("Cannot create %s: the server has its most rooms (%d). Join one that exists.", room, cl.d.hub.Options().MaxTotalRooms))
	case errors.Is(err, chat.ErrBadNick):
		cl.fail("no-such-nick", room, "No one is called that.")
	case modeCode(err) != "":
		cl.fail(modeCode(err), room, modeText(room, err))
	default:
		cl.fail("error", room, strings.TrimPrefix(err.Error(), "chat: "))
	}
}

// Close implements httpd.Takeover.
func (cl *client) Close(_ server.Conn, err error) {
	if cl.counted {
		cl.d.hub.ReleaseConn(cl.addr)
	}
	if cl.m == nil {
		return
	}
	reason := "connection closed"
	if r := cl.gone.Load(); r != nil {
		reason = *r
	} else if err != nil {
		switch {
		case errors.Is(err, server.ErrSlowConsumer):
			reason = "send queue exceeded"
		case errors.Is(err, server.ErrIdleTimeout):
			reason = "idle timeout"
		case errors.Is(err, server.ErrShutdown):
			reason = "server shutting down"
		default:
			reason = "connection reset"
		}
	}
	cl.gate.Close(func() {
		// Quit first: a nick claim's completion may be setting the nick
		// until then, and leaves it alone after.
		cl.d.hub.Quit(cl.m, reason)
		if nick := cl.m.Nick(); nick != "" {
			cl.d.named(cl, nick, "")
		}
	})
}

// Drain implements server.Drainer: the browser is told to come back later.
func (cl *client) Drain(c server.Conn) {
	r := "server shutting down"
	cl.gone.CompareAndSwap(nil, &r)
	c.Write(appendFrame(nil, ws.OpClose, ws.NewCloseFrameBody(ws.StatusGoingAway, "server shutting down")))
	c.Close()
}

// Ping implements chat.Door: browsers answer pings by themselves.
func (cl *client) Ping(*chat.Member) {
	cl.c.Write(appendFrame(nil, ws.OpPing, nil))
}

// Kick implements chat.Door.
func (cl *client) Kick(_ *chat.Member, reason string) {
	cl.gone.CompareAndSwap(nil, &reason)
	if len(reason) > 100 {
		reason = reason[:100]
	}
	cl.c.Write(appendFrame(nil, ws.OpClose, ws.NewCloseFrameBody(ws.StatusPolicyViolation, reason)))
	cl.c.Close()
}
