package chatline

import (
	"errors"
	"testing"

	"github.com/portside/portside/proto/line"
)

var parseTests = []struct {
	in   string
	want Command
	err  error
}{
	{"hello there", Command{Kind: Say, Text: "hello there"}, nil},
	{"  indented  ", Command{Kind: Say, Text: "  indented  "}, nil},
	{"héllo ☃\r", Command{Kind: Say, Text: "héllo ☃"}, nil},
	{"//shrug", Command{Kind: Say, Text: "/shrug"}, nil},
	{"/join lobby", Command{Kind: Join, Arg: "lobby"}, nil},
	{"/JOIN  dev ", Command{Kind: Join, Arg: "dev"}, nil},
	{"/join", Command{}, ErrUsage},
	{"/join a b", Command{Kind: Join, Arg: "a", Text: "b"}, nil},
	{"/join a b c", Command{}, ErrUsage},
	{"/op bob", Command{Kind: Op, Arg: "bob"}, nil},
	{"/op", Command{}, ErrUsage},
	{"/deop bob x", Command{}, ErrUsage},
	{"/voice bob", Command{Kind: Voice, Arg: "bob"}, nil},
	{"/devoice bob", Command{Kind: Devoice, Arg: "bob"}, nil},
	{"/kick bob", Command{Kind: Kick, Arg: "bob"}, nil},
	{"/kick bob  spam and more ", Command{Kind: Kick, Arg: "bob", Text: "spam and more"}, nil},
	{"/kick", Command{}, ErrUsage},
	{"/ban bob", Command{Kind: Ban, Arg: "bob"}, nil},
	{"/unban *!*@host", Command{Kind: Unban, Arg: "*!*@host"}, nil},
	{"/ban", Command{}, ErrUsage},
	{"/mute", Command{Kind: Mute}, nil},
	{"/unmute x", Command{}, ErrUsage},
	{"/invite bob", Command{Kind: Invite, Arg: "bob"}, nil},
	{"/topic", Command{Kind: Topic}, nil},
	{"/topic tea at four", Command{Kind: Topic, Text: "tea at four"}, nil},
	{"/mode", Command{Kind: Mode}, nil},
	{"/mode +l 5", Command{Kind: Mode, Text: "+l 5"}, nil},
	{"/part", Command{Kind: Part}, nil},
	{"/part see you", Command{Kind: Part, Text: "see you"}, nil},
	{"/nick bob", Command{Kind: Nick, Arg: "bob"}, nil},
	{"/nick", Command{}, ErrUsage},
	{"/who", Command{Kind: Who}, nil},
	{"/who x", Command{}, ErrUsage},
	{"/rooms", Command{Kind: Rooms}, nil},
	{"/msg bob hi there", Command{Kind: Msg, Arg: "bob", Text: "hi there"}, nil},
	{"/msg bob", Command{}, ErrUsage},
	{"/me waves", Command{Kind: Me, Text: "waves"}, nil},
	{"/me", Command{}, ErrUsage},
	{"/history", Command{Kind: History}, nil},
	{"/history 20", Command{Kind: History, N: 20}, nil},
	{"/history 0", Command{}, ErrUsage},
	{"/history -3", Command{}, ErrUsage},
	{"/history 99999999999999999999", Command{Kind: History, N: 1073741824}, nil},
	{"/help", Command{Kind: Help}, nil},
	{"/quit", Command{Kind: Quit}, nil},
	{"/quit gone fishing", Command{Kind: Quit, Text: "gone fishing"}, nil},
	{"/oper admin open sesame", Command{Kind: Oper, Arg: "admin", Text: "open sesame"}, nil},
	{"/oper admin", Command{}, ErrUsage},
	{"/kill bob", Command{Kind: Kill, Arg: "bob"}, nil},
	{"/kill bob  spam, spam ", Command{Kind: Kill, Arg: "bob", Text: "spam, spam"}, nil},
	{"/kill", Command{}, ErrUsage},
	{"/wallops back at six", Command{Kind: Wallops, Text: "back at six"}, nil},
	{"/wallops", Command{}, ErrUsage},
	{"/whowas bob", Command{Kind: Whowas, Arg: "bob"}, nil},
	{"/whowas", Command{}, ErrUsage},
	{"/whowas bob carol", Command{}, ErrUsage},
	{"/frobnicate", Command{}, ErrUnknown},
	{"/", Command{}, ErrUnknown},
	{"", Command{}, ErrEmpty},
	{"   ", Command{}, ErrEmpty},
	{"bad \xff byte", Command{}, ErrUTF8},
}

func TestParse(t *testing.T) {
	for _, tc := range parseTests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse([]byte(tc.in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("Parse(%q) error %v, want %v", tc.in, err, tc.err)
			}
			if got != tc.want {
				t.Errorf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestUsageError(t *testing.T) {
	_, err := Parse([]byte("/msg"))
	if got, want := err.Error(), "usage: /msg NICK TEXT"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
}

type result struct {
	c   Command
	err string
}

// parseStream frames a stream with package line, in the given chunks, and
// parses each line, as the chat server does.
func parseStream(chunks [][]byte) []result {
	var out []result
	var buf []byte
	for _, c := range chunks {
		buf = append(buf, c...)
		for {
			l, n, err := line.Next(buf, 1024)
			if err != nil {
				return append(out, result{err: err.Error()})
			}
			if n == 0 {
				break
			}
			cmd, err := Parse(l)
			r := result{c: cmd}
			if err != nil {
				r.err = err.Error()
			}
			out = append(out, r)
			buf = buf[n:]
		}
	}
	return out
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseTests {
		f.Add([]byte(tc.in+"\n"+tc.in+"\r\n"), uint8(2))
	}
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		whole := parseStream([][]byte{in})
		for _, size := range []int{1, int(step%16) + 1} {
			var chunks [][]byte
			for i := 0; i < len(in); i += size {
				chunks = append(chunks, in[i:min(i+size, len(in))])
			}
			split := parseStream(chunks)
			if len(split) != len(whole) {
				t.Fatalf("in %d-byte chunks: %d results, whole: %d", size, len(split), len(whole))
			}
			for i := range whole {
				if split[i] != whole[i] {
					t.Fatalf("in %d-byte chunks, result %d: %+v, whole: %+v", size, i, split[i], whole[i])
				}
			}
		}
		for _, r := range whole {
			if r.err == "" && r.c.Kind == Say && r.c.Text == "" {
				t.Fatalf("parsed an empty Say")
			}
		}
	})
}
