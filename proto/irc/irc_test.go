package irc

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

var parseTests = []struct {
	name string
	in   string
	want Message
	err  error
}{
	{"command only", "QUIT", Message{Command: "QUIT"}, nil},
	{"lower case command", "nick alice", Message{Command: "NICK", Params: []string{"alice"}}, nil},
	{"user", "USER alice 0 * :Alice Liddell", Message{Command: "USER", Params: []string{"alice", "0", "*", "Alice Liddell"}}, nil},
	{"source", ":irc.example 001 alice :Welcome", Message{Source: "irc.example", Command: "001", Params: []string{"alice", "Welcome"}}, nil},
	{"privmsg", ":a!b@c PRIVMSG #lobby :hello there", Message{Source: "a!b@c", Command: "PRIVMSG", Params: []string{"#lobby", "hello there"}}, nil},
	{"empty trailing", "TOPIC #lobby :", Message{Command: "TOPIC", Params: []string{"#lobby", ""}}, nil},
	{"trailing colon inside", "PRIVMSG #a ::-)", Message{Command: "PRIVMSG", Params: []string{"#a", ":-)"}}, nil},
	{"extra spaces", "  JOIN   #a,#b   key ", Message{Command: "JOIN", Params: []string{"#a,#b", "key"}}, nil},
	{"tags", "@time=2026-01-02T03:04:05.000Z;msgid=x\\sy\\:z :n PRIVMSG #a hi",
		Message{Tags: []Tag{{"time", "2026-01-02T03:04:05.000Z"}, {"msgid", "x y;z"}}, Source: "n", Command: "PRIVMSG", Params: []string{"#a", "hi"}}, nil},
	{"client tag no value", "@+typing TAGMSG #a", Message{Tags: []Tag{{"+typing", ""}}, Command: "TAGMSG", Params: []string{"#a"}}, nil},
	{"fifteen params", "X 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
		Message{Command: "X", Params: []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15 16"}}, nil},
	{"utf-8 text", "PRIVMSG #a :héllo ☃", Message{Command: "PRIVMSG", Params: []string{"#a", "héllo ☃"}}, nil},
	{"empty", "", Message{}, ErrEmpty},
	{"spaces", "   ", Message{}, ErrEmpty},
	{"source only", ":a!b@c", Message{}, ErrNoCommand},
	{"bad command", "PRIV-MSG #a :x", Message{}, ErrBadCommand},
	{"four digits", "1234 x", Message{}, ErrBadCommand},
	{"too long", "PRIVMSG #a :" + string(bytes.Repeat([]byte("x"), 600)), Message{}, ErrTooLong},
}

func TestParse(t *testing.T) {
	for _, tc := range parseTests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("Parse(%q) error %v, want %v", tc.in, err, tc.err)
			}
			if err == nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestAppendRoundTrip(t *testing.T) {
	for _, tc := range parseTests {
		if tc.err != nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			wire := tc.want.Append(nil)
			if !bytes.HasSuffix(wire, []byte("\r\n")) {
				t.Fatalf("Append gave %q, without CRLF", wire)
			}
			got, err := Parse(wire[:len(wire)-2])
			if err != nil {
				t.Fatalf("Parse(Append(m)) = %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q) = %#v, want %#v", wire, got, tc.want)
			}
		})
	}
}

func TestAppend(t *testing.T) {
	for _, tc := range []struct {
		m    Message
		want string
	}{
		{Message{Command: "PING", Params: []string{"x"}}, "PING x\r\n"},
		{Message{Source: "srv", Command: "001", Params: []string{"al", "Welcome home"}}, ":srv 001 al :Welcome home\r\n"},
		{Message{Command: "TOPIC", Params: []string{"#a", ""}}, "TOPIC #a :\r\n"},
		{Message{Tags: []Tag{{"time", "t"}, {"a", "x;y z"}}, Command: "X"}, "@time=t;a=x\\:y\\sz X\r\n"},
		// Whatever the parameters hold, the message is one line.
		{Message{Source: "a\r\nb", Command: "PRIVMSG", Params: []string{"#x", "hi\r:admin!admin@portside PRIVMSG #x :pw\x00"}}, ":a\uFFFD\uFFFDb PRIVMSG #x :hi\uFFFD:admin!admin@portside PRIVMSG #x :pw\uFFFD\r\n"},
		{Message{Command: "301", Params: []string{"al", "bob", "\x02away\x02 \x0304now"}}, "301 al bob :\x02away\x02 \x0304now\r\n"},
	} {
		if got := string(tc.m.Append(nil)); got != tc.want {
			t.Errorf("Append = %q, want %q", got, tc.want)
		}
	}
}

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		in    string
		wantN int
		cmd   string
		err   error
	}{
		{"NICK a\r\nUSER", 8, "NICK", nil},
		{"NICK a\nUSER", 7, "NICK", nil},
		{"NICK a\rUSER", 7, "NICK", nil},
		{"NICK a\r", 0, "", nil},
		{"NICK a", 0, "", nil},
		{"\r\n", 2, "", ErrEmpty},
		{string(bytes.Repeat([]byte("x"), MaxTags+MaxLine+1)), 0, "", ErrTooLong},
	} {
		m, n, err := Next([]byte(tc.in))
		if n != tc.wantN || m.Command != tc.cmd || !errors.Is(err, tc.err) {
			t.Errorf("Next(%.20q) = %q, %d, %v; want %q, %d, %v", tc.in, m.Command, n, err, tc.cmd, tc.wantN, tc.err)
		}
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{"Alice": "alice", "#Lobby": "#lobby", "x[]": "x[]", "ÄB": "Äb"} {
		if got := Fold(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidNick(t *testing.T) {
	for _, tc := range []struct {
		nick string
		ok   bool
	}{
		{"alice", true}, {"[bot]", true}, {"a-1", true}, {"_x|y^", true},
		{"", false}, {"1abc", false}, {"-a", false}, {"a b", false}, {"a!b", false}, {"ä", false},
		{"abcdefghijklmnopqrstuvwxyz01234", false},
	} {
		if got := ValidNick(tc.nick, 30); got != tc.ok {
			t.Errorf("ValidNick(%q) = %v, want %v", tc.nick, got, tc.ok)
		}
	}
}

// frame parses a stream fed to Next in the given chunks, as an engine
// would: unconsumed bytes are kept and handed again with the next chunk.
func frame(chunks [][]byte) (msgs []string, err error) {
	var buf []byte
	for _, c := range chunks {
		buf = append(buf, c...)
		for {
			m, n, err := Next(buf)
			if err != nil && !errors.Is(err, ErrEmpty) {
				if n == 0 || errors.Is(err, ErrTooLong) {
					return msgs, err
				}
				msgs = append(msgs, "error: "+err.Error())
			}
			if n == 0 {
				break
			}
			if err == nil {
				msgs = append(msgs, m.String())
			}
			buf = buf[n:]
		}
	}
	return msgs, nil
}

// FuzzAppend: whatever a message holds, Append writes one line, with no
// NUL.
func FuzzAppend(f *testing.F) {
	f.Add("srv", "NOTICE", "al", "hello\r:admin!admin@portside PRIVMSG #lobby :send me your password")
	f.Add("a\nb", "X\r", "\x00", "ok\n<alice> give me your password")
	f.Fuzz(func(t *testing.T, source, command, p1, p2 string) {
		m := Message{Tags: []Tag{{"k", p2}}, Source: source, Command: command, Params: []string{p1, p2}}
		b := m.Append(nil)
		if !bytes.HasSuffix(b, []byte("\r\n")) || bytes.IndexAny(b[:len(b)-2], "\r\n\x00") >= 0 {
			t.Fatalf("not one line: %q", b)
		}
	})
}

func FuzzNext(f *testing.F) {
	for _, tc := range parseTests {
		f.Add([]byte(tc.in+"\r\n"+tc.in+"\n"), uint8(3))
	}
	f.Add([]byte("NICK a\rUSER b 0 * :c\r\n\r\nJOIN #x\n"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		whole, werr := frame([][]byte{in})
		// Byte at a time, and in chunks of step bytes.
		for _, size := range []int{1, int(step%16) + 1} {
			var chunks [][]byte
			for i := 0; i < len(in); i += size {
				chunks = append(chunks, in[i:min(i+size, len(in))])
			}
			split, serr := frame(chunks)
			if !reflect.DeepEqual(whole, split) || (werr == nil) != (serr == nil) {
				t.Fatalf("in %d-byte chunks:\n%q, %v\nwhole:\n%q, %v", size, split, serr, whole, werr)
			}
		}
		// Whatever parses must survive a round trip through Append.
		for len(in) > 0 {
			m, n, err := Next(in)
			if n == 0 {
				break
			}
			in = in[n:]
			if err != nil {
				continue
			}
			again, err := Parse(bytes.TrimSuffix(m.Append(nil), []byte("\r\n")))
			if err != nil {
				if errors.Is(err, ErrTooLong) {
					continue // escaping tags can lengthen them
				}
				t.Fatalf("Parse(Append(%#v)): %v", m, err)
			}
			if again.Command != m.Command || len(again.Params) != len(m.Params) {
				t.Fatalf("round trip changed %#v into %#v", m, again)
			}
		}
	})
}
