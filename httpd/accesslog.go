package httpd

import (
	"io"
	"net"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/portside/portside/proto/http1"
)

// accessLog buffers access log lines and writes them from its own
// goroutine, so a slow log never stalls a connection. Lines beyond
// maxLogBuffer waiting to be written are dropped and counted.
type accessLog struct {
	w       io.Writer // nil: count only
	count   *Requests // nil: log only
	json    bool
	mu      sync.Mutex
	buf     []byte
	dropped int64
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

const maxLogBuffer = 1 << 20

func newAccessLog(w io.Writer, json bool, count *Requests) *accessLog {
	a := &accessLog{w: w, json: json, count: count, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if w != nil {
		go a.run()
	} else {
		close(a.done)
	}
	return a
}

func (a *accessLog) run() {
	defer close(a.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	var spare []byte
	for {
		select {
		case <-t.C:
		case <-a.kick:
		case <-a.stop:
			a.mu.Lock()
			b := a.buf
			a.buf = nil
			a.mu.Unlock()
			a.w.Write(b)
			return
		}
		a.mu.Lock()
		b := a.buf
		a.buf = spare[:0]
		a.mu.Unlock()
		if len(b) > 0 {
			a.w.Write(b)
		}
		spare = b
	}
}

func (a *accessLog) close() {
	if a.w == nil {
		return
	}
	close(a.stop)
	<-a.done
}

// log writes the line for the response cn just sent.
func (a *accessLog) log(cn *conn) {
	a.logRequest(cn, cn.p.Request(), cn.logStatus, cn.logBytes)
}

// logRequest writes the line for r, answered with status and n bytes of
// body.
func (a *accessLog) logRequest(cn *conn, r *http1.Request, status int, n int64) {
	a.line(cn, r.Method, r.Target, r.Proto, status, n, r.Header.Get("Referer"), r.Header.Get("User-Agent"))
}

// logRaw logs a request the parser refused, of which nothing is known.
func (a *accessLog) logRaw(cn *conn, status int) {
	a.line(cn, "-", nil, "-", status, 0, nil, nil)
}

func (a *accessLog) line(cn *conn, method string, target []byte, proto string, status int, n int64, referer, ua []byte) {
	if a.count != nil {
		a.count.count(method, status)
	}
	if a.w == nil {
		return
	}
	host := "-"
	if ta, ok := cn.c.RemoteAddr().(*net.TCPAddr); ok {
		host = ta.IP.String()
	}
	user := cn.user
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.buf) > maxLogBuffer {
		a.dropped++
		return
	}
	b := a.buf
	if a.json {
		b = append(b, `{"time":"`...)
		b = cn.now.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","remote_addr":"`...)
		b = append(b, host...)
		b = append(b, `","user":`...)
		b = appendJSONString(b, []byte(user))
		b = append(b, `,"method":`...)
		b = appendJSONString(b, []byte(method))
		b = append(b, `,"target":`...)
		b = appendJSONString(b, target)
		b = append(b, `,"proto":"`...)
		b = append(b, proto...)
		b = append(b, `","status":`...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, `,"referer":`...)
		b = appendJSONString(b, referer)
		b = append(b, `,"user_agent":`...)
		b = appendJSONString(b, ua)
		b = append(b, "}\n"...)
	} else {
		// The combined log format of Apache and nginx.
		b = append(b, host...)
		b = append(b, " - "...)
		if user == "" {
			b = append(b, '-')
		} else {
			b = appendEscaped(b, []byte(user))
		}
		b = append(b, " ["...)
		b = cn.now.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
		b = append(b, "] \""...)
		b = append(b, method...)
		if target != nil {
			b = append(b, ' ')
			b = appendEscaped(b, target)
			b = append(b, ' ')
			b = append(b, proto...)
		}
		b = append(b, "\" "...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, n, 10)
		b = append(b, " \""...)
		if referer == nil {
			b = append(b, '-')
		} else {
			b = appendEscaped(b, referer)
		}
		b = append(b, "\" \""...)
		if ua == nil {
			b = append(b, '-')
		} else {
			b = appendEscaped(b, ua)
		}
		b = append(b, "\"\n"...)
	}
	a.buf = b
	if len(b) > 64<<10 {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
}

// appendEscaped escapes what could forge a log line or field: quotes,
// backslashes and bytes outside printable ASCII, as \xHH.
func appendEscaped(b, s []byte) []byte {
	const hexd = "0123456789abcdef"
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hexd[c>>4], hexd[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b, s []byte) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	for len(s) > 0 {
		c := s[0]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
		case c < utf8.RuneSelf:
			b = append(b, c)
		default:
			r, size := utf8.DecodeRune(s)
			if r == utf8.RuneError && size == 1 {
				b = append(b, "\\ufffd"...)
			} else {
				b = append(b, s[:size]...)
			}
			s = s[size:]
			continue
		}
		s = s[1:]
	}
	return append(b, '"')
}
