package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/portside/portside/internal/testkit"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/chat/web"
	"github.com/portside/portside/engine"
	"github.com/portside/portside/httpd"
	"github.com/portside/portside/server"
)

type servers struct {
	chat, web string // addresses
	hub       *chat.Hub
	door      *web.Door
}

// start runs a hub, its line and IRC doors and its browser door, each on
// a loopback port served by the named engine, until the test ends.
func start(t *testing.T, name string, o chat.Options) servers {
	t.Helper()
	return startWeb(t, name, o, web.Options{MaxMessage: 1024})
}

// startWeb is start with the browser door's options.
func startWeb(t *testing.T, name string, o chat.Options, wo web.Options) servers {
	t.Helper()
	if o.FloodRate == 0 {
		o.FloodRate = -1
	}
	if o.GreetDelay == 0 {
		o.GreetDelay = time.Hour
	}
	hub := chat.New(o)
	door := web.New(hub, wo)
	var rt httpd.Router
	door.Mount(&rt)
	h, err := httpd.New(httpd.Options{Routes: &rt})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Background(t, "hub", hub.Run)
	t.Cleanup(func() { h.Stop() }) // after the engines have stopped
	return servers{
		chat: testkit.Serve(t, name, &server.Service{Name: "chat", Handler: hub.Handler()}),
		web:  testkit.Serve(t, name, &server.Service{Name: "web", Handler: h}),
		hub:  hub, door: door,
	}
}

// wsPeer is a browser stand-in: a WebSocket client that keeps every JSON
// object it is sent.
type wsPeer struct {
	t    *testing.T
	c    net.Conn
	rw   io.ReadWriter
	mu   sync.Mutex
	got  []map[string]any
	seen int
	more chan struct{}
	eof  chan struct{}
	err  error
}

func dialWS(t *testing.T, addr string) *wsPeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, br, _, err := ws.Dialer{}.Dial(ctx, "ws://"+addr+"/chat/ws")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var r io.Reader = c
	if br != nil {
		r = io.MultiReader(br, c)
	}
	p := &wsPeer{t: t, c: c, rw: struct {
		io.Reader
		io.Writer
	}{r, c}, more: make(chan struct{}, 1), eof: make(chan struct{})}
	go func() {
		defer close(p.eof)
		for {
			b, _, err := wsutil.ReadServerData(p.rw)
			if err != nil {
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
				return
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				m = map[string]any{"type": "bad-json", "text": string(b)}
			}
			p.mu.Lock()
			p.got = append(p.got, m)
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
		}
	}()
	return p
}

func (p *wsPeer) send(v map[string]any) {
	p.t.Helper()
	b, _ := json.Marshal(v)
	if err := wsutil.WriteClientText(p.c, b); err != nil {
		p.t.Fatalf("send %s: %v", b, err)
	}
}

// expect waits for an object, after the last one expected, that has all
// of want's fields.
func (p *wsPeer) expect(want map[string]any) map[string]any {
	p.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		p.mu.Lock()
		for i := p.seen; i < len(p.got); i++ {
			if matches(p.got[i], want) {
				p.seen = i + 1
				m := p.got[i]
				p.mu.Unlock()
				return m
			}
		}
		got := p.dump()
		p.mu.Unlock()
		select {
		case <-p.more:
		case <-p.eof:
			p.mu.Lock()
			n := len(p.got)
			p.mu.Unlock()
			if n == len(got) {
				p.t.Fatalf("closed (%v) without %v; got:\n%s", p.err, want, strings.Join(got, "\n"))
			}
		case <-deadline:
			p.t.Fatalf("no %v in 10s; got:\n%s", want, strings.Join(got, "\n"))
		}
	}
}

// dump returns what the peer got, as JSON lines; p.mu is held.
func (p *wsPeer) dump() []string {
	var out []string
	for _, m := range p.got {
		b, _ := json.Marshal(m)
		out = append(out, string(b))
	}
	return out
}

func matches(m, want map[string]any) bool {
	for k, v := range want {
		if fmt.Sprint(m[k]) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

func (p *wsPeer) closed() {
	p.t.Helper()
	select {
	case <-p.eof:
	case <-time.After(10 * time.Second):
		p.t.Fatal("still open after 10s")
	}
}

// tcpPeer is a line-protocol or IRC client on a raw socket.
// TestTranscript: a browser, a person on nc and an IRC client in one room
// see each other; the browser gets history on join, and after a reconnect
// catches up from the last sequence number it saw.
func TestTranscript(t *testing.T) {
	testkit.EachEngine(t, testkit.Concurrent, func(t *testing.T, name string) {
		s := start(t, name, chat.Options{Password: "sesame"})
		line := testkit.Dial(t, s.chat, "lina")
		line.Send("lina", "sesame")
		line.Expect("* You are in lobby with 1: lina")
		line.Send("before the browser came")
		irc := testkit.Dial(t, s.chat, "ira")
		irc.Send("PASS sesame", "NICK ira", "USER ira 0 * :Ira", "JOIN #lobby")
		irc.Expect(" 366 ira #lobby ")
		// Replayed, or sent once stored: either way in the history now.
		irc.Expect("PRIVMSG #lobby :before the browser came")

		b := dialWS(t, s.web)
		b.send(map[string]any{"type": "join", "room": "lobby"})
		b.expect(map[string]any{"type": "error", "code": "hello-first"})
		b.send(map[string]any{"type": "hello", "nick": "bea", "password": "sesame"})
		b.expect(map[string]any{"type": "welcome", "nick": "bea", "max_message": 400})
		b.send(map[string]any{"type": "join", "room": "#Lobby"})
		b.expect(map[string]any{"type": "join", "room": "lobby", "nick": "bea"})
		j := b.expect(map[string]any{"type": "joined", "room": "lobby"})
		if got := fmt.Sprint(j["members"]); got != "[bea ira lina]" {
			t.Errorf("members %s, want [bea ira lina]", got)
		}
		b.expect(map[string]any{"type": "say", "room": "lobby", "seq": 1, "nick": "lina", "text": "before the browser came", "history": true})
		line.Expect("* bea joined lobby")
		irc.Expect(":bea!bea@127.0.0.1 JOIN #lobby")

		line.Send("hello from the line")
		b.expect(map[string]any{"type": "say", "seq": 2, "nick": "lina", "text": "hello from the line"})
		irc.Send("PRIVMSG #lobby :hello from irc")
		b.expect(map[string]any{"type": "say", "seq": 3, "nick": "ira", "text": "hello from irc"})
		b.send(map[string]any{"type": "say", "room": "lobby", "text": "hello from the browser"})
		b.send(map[string]any{"type": "action", "room": "lobby", "text": "waves"})
		line.Expect("<bea> hello from the browser")
		line.Expect("* bea waves")
		irc.Expect(":bea!bea@127.0.0.1 PRIVMSG #lobby :hello from the browser")
		irc.Expect(":bea!bea@127.0.0.1 PRIVMSG #lobby :\x01ACTION waves\x01")
		b.send(map[string]any{"type": "msg", "to": "lina", "text": "psst"})
		line.Expect("*bea* psst")
		b.send(map[string]any{"type": "say", "room": "lobby", "text": strings.Repeat("x", 401)})
		b.expect(map[string]any{"type": "error", "code": "too-long"})
		b.send(map[string]any{"type": "who", "room": "lobby"})
		b.expect(map[string]any{"type": "members", "members": "[bea ira lina]"})

		// The browser drops; what is said meanwhile it gets on rejoining
		// with the last sequence number it saw, beyond the replay.
		b.c.Close()
		line.Expect("* bea quit (")
		for i := range 25 {
			line.Send(fmt.Sprintf("missed %d", i))
		}
		irc.Expect("PRIVMSG #lobby :missed 24") // kept: fanned out after its commit
		b2 := dialWS(t, s.web)
		b2.send(map[string]any{"type": "hello", "nick": "bea", "password": "sesame"})
		b2.expect(map[string]any{"type": "welcome"})
		b2.send(map[string]any{"type": "join", "room": "lobby", "since": 5})
		b2.expect(map[string]any{"type": "joined"})
		seqs := map[float64]int{}
		for len(seqs) < 25 {
			m := b2.expect(map[string]any{"type": "say", "history": true})
			seq := m["seq"].(float64)
			if seq <= 5 {
				t.Errorf("got seq %v, seen before the reconnect", seq)
			}
			seqs[seq]++
		}
		for seq := 6.0; seq <= 30; seq++ {
			if seqs[seq] == 0 {
				t.Errorf("seq %v missing after the reconnect", seq)
			}
		}
	})
}

// TestPassword: the browser door asks for the server's password.
func TestPassword(t *testing.T) {
	s := start(t, engine.Default, chat.Options{Password: "sesame"})
	b := dialWS(t, s.web)
	b.send(map[string]any{"type": "hello", "nick": "bea", "password": "guess"})
	b.expect(map[string]any{"type": "error", "code": "password"})
	b.closed()
	if members, _ := s.hub.Counts(); members != 0 {
		t.Errorf("%d members after a wrong password", members)
	}
}

// raw opens a WebSocket by hand, to send frames a browser never would.
func raw(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /chat/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(c)
	var head strings.Builder
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("handshake: %v after %q", err, head.String())
		}
		head.WriteString(l)
		if l == "\r\n" {
			break
		}
	}
	// RFC 6455's own example key and accept value.
	if h := head.String(); !strings.HasPrefix(h, "HTTP/1.1 101 ") || !strings.Contains(h, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") {
		t.Fatalf("handshake answer:\n%s", h)
	}
	return c, br
}

func clientFrame(op ws.OpCode, fin, masked bool, payload []byte) []byte {
	var buf bytes.Buffer
	h := ws.Header{Fin: fin, OpCode: op, Length: int64(len(payload)), Masked: masked}
	p := append([]byte(nil), payload...)
	if masked {
		h.Mask = ws.NewMask()
		ws.Cipher(p, h.Mask, 0)
	}
	ws.WriteHeader(&buf, h)
	buf.Write(p)
	return buf.Bytes()
}

// TestFrames: the door's limits, and its answers to control frames.
func TestFrames(t *testing.T) {
	s := start(t, engine.Default, chat.Options{})
	hello := []byte(`{"type":"hello","nick":"bea"}`)
	tests := []struct {
		name   string
		send   [][]byte
		want   []ws.OpCode
		status ws.StatusCode // of the close frame, 0 for none
	}{
		{"ping", [][]byte{clientFrame(ws.OpPing, true, true, []byte("hi"))}, []ws.OpCode{ws.OpPong}, 0},
		{"close", [][]byte{clientFrame(ws.OpClose, true, true, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))}, []ws.OpCode{ws.OpClose}, ws.StatusNormalClosure},
		{"unmasked", [][]byte{clientFrame(ws.OpText, true, false, hello)}, []ws.OpCode{ws.OpClose}, ws.StatusProtocolError},
		{"too big", [][]byte{clientFrame(ws.OpText, true, true, make([]byte, 2000))}, []ws.OpCode{ws.OpClose}, ws.StatusMessageTooBig},
		{"too big in fragments", [][]byte{clientFrame(ws.OpText, false, true, make([]byte, 700)), clientFrame(ws.OpContinuation, true, true, make([]byte, 700))}, []ws.OpCode{ws.OpClose}, ws.StatusMessageTooBig},
		{"not UTF-8", [][]byte{clientFrame(ws.OpText, true, true, []byte{'"', 0xff, '"'})}, []ws.OpCode{ws.OpClose}, ws.StatusInvalidFramePayloadData},
		{"binary", [][]byte{clientFrame(ws.OpBinary, true, true, hello)}, []ws.OpCode{ws.OpClose}, ws.StatusUnsupportedData},
		{"stray continuation", [][]byte{clientFrame(ws.OpContinuation, true, true, hello)}, []ws.OpCode{ws.OpClose}, ws.StatusProtocolError},
		{"fragmented, with a ping inside", [][]byte{
			clientFrame(ws.OpText, false, true, hello[:10]),
			clientFrame(ws.OpPing, true, true, nil),
			clientFrame(ws.OpContinuation, true, true, hello[10:]),
		}, []ws.OpCode{ws.OpPong, ws.OpText}, 0},
		{"byte by byte", [][]byte{clientFrame(ws.OpText, true, true, hello)}, []ws.OpCode{ws.OpText}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, br := raw(t, s.web)
			for _, f := range tt.send {
				if tt.name == "byte by byte" {
					for i := range f {
						c.Write(f[i : i+1])
					}
					continue
				}
				c.Write(f)
			}
			for _, want := range tt.want {
				f, err := ws.ReadFrame(br)
				if err != nil {
					t.Fatalf("reading %v: %v", want, err)
				}
				if f.Header.Masked {
					t.Errorf("server frame is masked")
				}
				if f.Header.OpCode != want {
					t.Fatalf("got opcode %v (%q), want %v", f.Header.OpCode, f.Payload, want)
				}
				if want == ws.OpClose {
					code, _ := ws.ParseCloseFrameData(f.Payload)
					if code != tt.status {
						t.Errorf("close status %d, want %d", code, tt.status)
					}
				}
			}
			if tt.status != 0 {
				if _, err := br.ReadByte(); err != io.EOF {
					t.Errorf("after the close frame: %v, want EOF", err)
				}
			}
		})
	}
}

// TestPage: the page and its files are served, and a plain GET of the
// WebSocket is told what it is.
func TestPage(t *testing.T) {
	s := start(t, engine.Default, chat.Options{})
	for _, tt := range []struct{ path, status, has string }{
		{"/chat", "200", "<title>portside chat</title>"},
		{"/chat/", "200", "/chat/app.js"},
		{"/chat/app.js", "200", "new WebSocket"},
		{"/chat/style.css", "200", "text/css"},
		{"/chat/nope.js", "404", "Not Found"},
		{"/chat/ws", "426", "Upgrade: websocket"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			c := testkit.Dial(t, s.web, "curl")
			c.Write("GET " + tt.path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			c.Closed()
			get := c.Transcript()
			if !strings.HasPrefix(get, "HTTP/1.1 "+tt.status+" ") || !strings.Contains(get, tt.has) {
				t.Errorf("GET %s: got\n%.300s\nwant %s with %q", tt.path, get, tt.status, tt.has)
			}

			// HEAD: the same status and header, no body.
			h := testkit.Dial(t, s.web, "curl -I")
			h.Write("HEAD " + tt.path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			h.Closed()
			head := h.Transcript()
			getHead, _, _ := strings.Cut(get, "\r\n\r\n")
			if want := dropDate(getHead) + "\r\n\r\n"; dropDate(head) != want {
				t.Errorf("HEAD %s: got\n%s\nwant\n%s", tt.path, head, want)
			}
		})
	}
}

// dropDate leaves out a response head's Date field, which may tick
// between two requests.
func dropDate(head string) string {
	var keep []string
	for _, l := range strings.Split(head, "\r\n") {
		if !strings.HasPrefix(strings.ToLower(l), "date:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\r\n")
}

// TestFlood: a browser sending faster than flood control allows is told
// so, then disconnected once it keeps on through a whole burst.
func TestFlood(t *testing.T) {
	s := start(t, engine.Default, chat.Options{FloodRate: 0.001, FloodBurst: 2})
	b := dialWS(t, s.web)
	b.send(map[string]any{"type": "hello", "nick": "bea"})
	b.expect(map[string]any{"type": "welcome"})
	for range 6 {
		b.send(map[string]any{"type": "say", "room": "lobby", "text": "spam"})
	}
	b.expect(map[string]any{"type": "error", "code": "flood"})
	b.closed()
}
