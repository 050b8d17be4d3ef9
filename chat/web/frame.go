package web

import (
	"bytes"
	"encoding/json"
	"strings"

	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/portside/portside/chat"
)

// appendWriter lets ws.WriteHeader append to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// appendFrame appends one unmasked, unfragmented server frame.
func appendFrame(dst []byte, op ws.OpCode, payload []byte) []byte {
	w := appendWriter{dst}
	ws.WriteHeader(&w, ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))})
	return append(w.b, payload...)
}

// appendJSON appends v as one text frame.
func appendJSON(dst []byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the door's own types always marshal
	}
	return appendFrame(dst, ws.OpText, b)
}

// wireMsg is what the browser is sent for everything the hub fans out.
type wireMsg struct {
	Type    string `json:"type"`
	Room    string `json:"room,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
	Time    string `json:"time"`
	Nick    string `json:"nick"`
	To      string `json:"to,omitempty"`
	Target  string `json:"target,omitempty"` // who a kick took out
	Text    string `json:"text,omitempty"`
	History bool   `json:"history,omitempty"`
}

// timeFormat is RFC 3339 in UTC with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z"

var kinds = map[chat.Kind]string{
	chat.Say: "say", chat.Action: "action", chat.Notice: "notice",
	chat.Join: "join", chat.Part: "part", chat.Quit: "quit",
	chat.Rename: "nick", chat.Topic: "topic",
	chat.Kick: "kick", chat.Mode: "mode", chat.Invite: "invite",
}

// encodeFrame is the door's chat.Encoder: m as a text frame holding one
// JSON object. It depends on nothing but m, so a room's browsers share it.
// JSON escapes every control character and makes any bytes valid UTF-8;
// beyond that, CR, LF and NUL become U+FFFD, as on the other doors, so
// that text kept before the hub's text rules cannot show the page a line
// of its own either (the page keeps line breaks in what it shows).
func encodeFrame(dst []byte, m *chat.Msg, replay bool) []byte {
	return appendJSON(dst, wireMsg{
		Type: kinds[m.Kind], Room: clean(m.Room), Seq: m.Seq, Time: m.Time.UTC().Format(timeFormat),
		Nick: clean(m.Nick), To: clean(m.To), Target: clean(m.Target), Text: clean(m.Text), History: replay,
	})
}

// clean replaces CR, LF and NUL in s with U+FFFD.
func clean(s string) string {
	if !strings.ContainsAny(s, "\r\n\x00") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return utf8.RuneError
		}
		return r
	}, s)
}

// frames parses client frames from input, as it arrives.
type frames struct {
	max  int
	msg  []byte    // a fragmented message's payload so far
	op   ws.OpCode // its opcode; 0 when none is in progress
	hdrR bytes.Reader
}

// frame is one complete frame, unmasked. payload is valid until the next
// call of next.
type frame struct {
	op      ws.OpCode
	payload []byte
}

// closeError says why the connection must close, and with which code.
type closeError struct {
	code   ws.StatusCode
	reason string
}

func (e *closeError) Error() string { return "web: " + e.reason }

// headerSize returns the length of the frame header at the start of in, or
// 0 if too little of it has arrived to tell.
func headerSize(in []byte) int {
	if len(in) < 2 {
		return 0
	}
	n := 2
	switch in[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if in[1]&0x80 != 0 {
		n += 4
	}
	if len(in) < n {
		return 0
	}
	return n
}

// next parses one frame from in. It returns the bytes used, 0 if the frame
// is not complete yet. Data frames come out whole, fragments joined; control
// frames as they come. A protocol violation is a *closeError.
func (f *frames) next(in []byte) (int, *frame, error) {
	hs := headerSize(in)
	if hs == 0 {
		return 0, nil, nil
	}
	f.hdrR.Reset(in[:hs])
	h, err := ws.ReadHeader(&f.hdrR)
	if err != nil {
		return 0, nil, &closeError{ws.StatusProtocolError, "bad frame header"}
	}
	if !h.Masked {
		return 0, nil, &closeError{ws.StatusProtocolError, "client frames must be masked"}
	}
	state := ws.StateServerSide
	if f.op != 0 {
		state |= ws.StateFragmented
	}
	if err := ws.CheckHeader(h, state); err != nil {
		return 0, nil, &closeError{ws.StatusProtocolError, err.Error()}
	}
	control := h.OpCode.IsControl()
	if h.Length < 0 || (!control && int64(len(f.msg))+h.Length > int64(f.max)) {
		return 0, nil, &closeError{ws.StatusMessageTooBig, "message too big"}
	}
	end := hs + int(h.Length)
	if len(in) < end {
		return 0, nil, nil
	}
	payload := in[hs:end]
	ws.Cipher(payload, h.Mask, 0)
	if control {
		return end, &frame{op: h.OpCode, payload: payload}, nil
	}
	switch {
	case h.OpCode == ws.OpContinuation && f.op == 0:
		return 0, nil, &closeError{ws.StatusProtocolError, "continuation of nothing"}
	case h.OpCode != ws.OpContinuation && f.op != 0:
		return 0, nil, &closeError{ws.StatusProtocolError, "new message inside a fragmented one"}
	case h.OpCode != ws.OpContinuation:
		f.op = h.OpCode
	}
	f.msg = append(f.msg, payload...)
	if !h.Fin {
		return end, nil, nil
	}
	fr := &frame{op: f.op, payload: f.msg}
	f.op, f.msg = 0, f.msg[:0]
	if fr.op == ws.OpText && !utf8.Valid(fr.payload) {
		return 0, nil, &closeError{ws.StatusInvalidFramePayloadData, "text is not UTF-8"}
	}
	if cap(f.msg) > 64<<10 {
		f.msg = nil
	}
	return end, fr, nil
}
