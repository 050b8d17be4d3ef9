package http1

import (
	"bytes"
	"io"
	"strconv"
	"time"
)

// The encoder appends to a caller's buffer, so a server that reuses one
// buffer per connection writes response heads without allocating. Header
// names and values are written as given: the caller must not pass CR or LF
// in them (values taken from a request never contain any).

var statusText = map[int]string{
	100: "Continue",
	101: "Switching Protocols",
	200: "OK",
	201: "Created",
	202: "Accepted",
	204: "No Content",
	206: "Partial Content",
	301: "Moved Permanently",
	302: "Found",
	303: "See Other",
	304: "Not Modified",
	307: "Temporary Redirect",
	308: "Permanent Redirect",
	400: "Bad Request",
	401: "Unauthorized",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	406: "Not Acceptable",
	408: "Request Timeout",
	409: "Conflict",
	410: "Gone",
	411: "Length Required",
	412: "Precondition Failed",
	413: "Content Too Large",
	414: "URI Too Long",
	415: "Unsupported Media Type",
	416: "Range Not Satisfiable",
	417: "Expectation Failed",
	421: "Misdirected Request",
	422: "Unprocessable Content",
	426: "Upgrade Required",
	428: "Precondition Required",
	429: "Too Many Requests",
	431: "Request Header Fields Too Large",
	500: "Internal Server Error",
	501: "Not Implemented",
	502: "Bad Gateway",
	503: "Service Unavailable",
	504: "Gateway Timeout",
	505: "HTTP Version Not Supported",
}

// statusLines caches whole status lines, the hot path of every response.
var statusLines [600]string

func init() {
	for code, text := range statusText {
		statusLines[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
	}
}

// StatusText returns the reason phrase of an HTTP status code (RFC 9110
// §15), or "" if the package does not know it.
func StatusText(code int) string { return statusText[code] }

// AppendStatusLine appends "HTTP/1.1 <code> <reason>\r\n". Unknown codes in
// 100..999 get an empty reason phrase, which RFC 9112 §4 allows.
func AppendStatusLine(dst []byte, code int) []byte {
	if code >= 0 && code < len(statusLines) && statusLines[code] != "" {
		return append(dst, statusLines[code]...)
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	return append(dst, " \r\n"...)
}

// AppendHeader appends "name: value\r\n".
func AppendHeader(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// AppendHeaderBytes is AppendHeader for a value held as bytes.
func AppendHeaderBytes(dst []byte, name string, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// AppendHeaderInt appends "name: <v>\r\n" in decimal.
func AppendHeaderInt(dst []byte, name string, v int64) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = strconv.AppendInt(dst, v, 10)
	return append(dst, "\r\n"...)
}

// AppendContentLength appends "Content-Length: <n>\r\n".
func AppendContentLength(dst []byte, n int64) []byte {
	return AppendHeaderInt(dst, "Content-Length", n)
}

// AppendDate appends "Date: <IMF-fixdate>\r\n" for t (RFC 9110 §6.6.1). The
// caller passes the time; a server formats it once a second, not per
// response.
func AppendDate(dst []byte, t time.Time) []byte {
	return AppendHeaderTime(dst, "Date", t)
}

// AppendHeaderTime appends "name: <IMF-fixdate>\r\n", e.g. for
// Last-Modified.
func AppendHeaderTime(dst []byte, name string, t time.Time) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = AppendHTTPDate(dst, t)
	return append(dst, "\r\n"...)
}

const (
	days   = "SunMonTueWedThuFriSat"
	months = "JanFebMarAprMayJunJulAugSepOctNovDec"
)

// TimeFormat is the IMF-fixdate layout of RFC 9110 §5.6.7 for time.Format.
const TimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// AppendHTTPDate appends t in UTC as an IMF-fixdate, e.g.
// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7).
func AppendHTTPDate(dst []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	if y < 0 || y > 9999 {
		return t.AppendFormat(dst, TimeFormat)
	}
	wd := int(t.Weekday()) * 3
	m := (int(mo) - 1) * 3
	return append(dst,
		days[wd], days[wd+1], days[wd+2], ',', ' ',
		byte('0'+d/10), byte('0'+d%10), ' ',
		months[m], months[m+1], months[m+2], ' ',
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), ' ',
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), ' ', 'G', 'M', 'T')
}

// ParseHTTPDate parses an HTTP-date in any of the three formats a recipient
// must accept (RFC 9110 §5.6.7): IMF-fixdate, RFC 850 and asctime.
func ParseHTTPDate(b []byte) (time.Time, bool) {
	if t, ok := parseIMFFixdate(b); ok {
		return t, true
	}
	for _, layout := range [...]string{"Monday, 02-Jan-06 15:04:05 GMT", time.ANSIC} {
		if t, err := time.Parse(layout, string(b)); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parseIMFFixdate parses the common format without allocating.
func parseIMFFixdate(b []byte) (time.Time, bool) {
	// "Sun, 06 Nov 1994 08:49:37 GMT"
	if len(b) != 29 || b[3] != ',' || b[4] != ' ' || b[7] != ' ' || b[11] != ' ' ||
		b[16] != ' ' || b[19] != ':' || b[22] != ':' || string(b[25:]) != " GMT" {
		return time.Time{}, false
	}
	num := func(s []byte) int {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	mi := bytes.Index([]byte(months), b[8:11])
	d, y, h, m, s := num(b[5:7]), num(b[12:16]), num(b[17:19]), num(b[20:22]), num(b[23:25])
	if mi < 0 || mi%3 != 0 || d < 1 || d > 31 || y < 0 || h < 0 || h > 23 || m < 0 || m > 59 || s < 0 || s > 60 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mi/3+1), d, h, m, s, 0, time.UTC)
	if t.Day() != d {
		return time.Time{}, false
	}
	return t, true
}

// AppendContinue appends the interim response "HTTP/1.1 100 Continue\r\n\r\n"
// that answers Expect: 100-continue (RFC 9110 §15.2.1).
func AppendContinue(dst []byte) []byte {
	return append(dst, "HTTP/1.1 100 Continue\r\n\r\n"...)
}

// AppendError appends a complete response for a refused request: the status
// line, Date (unless date is zero), Allow for a 405 when allow is not empty,
// Connection: close and a one-line text body. The caller closes the
// connection after writing it.
func AppendError(dst []byte, status int, date time.Time, allow string) []byte {
	dst = AppendStatusLine(dst, status)
	if !date.IsZero() {
		dst = AppendDate(dst, date)
	}
	if allow != "" {
		dst = AppendHeader(dst, "Allow", allow)
	}
	text := StatusText(status)
	dst = append(dst, "Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"...)
	dst = AppendContentLength(dst, int64(len(text)+1))
	dst = append(dst, "\r\n"...)
	dst = append(dst, text...)
	return append(dst, '\n')
}

// AppendETag appends a strong entity tag for a file of the given size and
// modification time, e.g. "\"5f3a1c2b-400\"" (RFC 9110 §8.8.3). It changes
// whenever either does.
func AppendETag(dst []byte, size int64, mtime time.Time) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendInt(dst, mtime.UnixNano(), 16)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, size, 16)
	return append(dst, '"')
}

// ETagMatch reports whether an If-None-Match value matches etag with the
// weak comparison of RFC 9110 §13.1.2: "*" matches anything, W/ prefixes are
// ignored.
func ETagMatch(ifNoneMatch, etag []byte) bool {
	etag = bytes.TrimPrefix(etag, []byte("W/"))
	v := trimOWS(ifNoneMatch)
	if len(v) == 1 && v[0] == '*' {
		return true
	}
	for len(v) > 0 {
		v = trimOWS(v)
		if len(v) > 0 && v[0] == ',' {
			v = v[1:]
			continue
		}
		v = bytes.TrimPrefix(v, []byte("W/"))
		if len(v) == 0 || v[0] != '"' {
			return false
		}
		end := bytes.IndexByte(v[1:], '"')
		if end < 0 {
			return false
		}
		if bytes.Equal(v[:end+2], etag) {
			return true
		}
		v = v[end+2:]
	}
	return false
}

// AppendChunk appends data as one chunk of the chunked coding (RFC 9112
// §7.1): its size in hex, CRLF, the data, CRLF. An empty data appends
// nothing, since a zero-size chunk would end the body.
func AppendChunk(dst, data []byte) []byte {
	if len(data) == 0 {
		return dst
	}
	dst = AppendChunkSize(dst, len(data))
	dst = append(dst, data...)
	return append(dst, "\r\n"...)
}

// AppendChunkSize appends the line that starts a chunk of n bytes, for
// callers that send the data from elsewhere (then "\r\n" after it).
func AppendChunkSize(dst []byte, n int) []byte {
	dst = strconv.AppendInt(dst, int64(n), 16)
	return append(dst, "\r\n"...)
}

// AppendLastChunk appends the last chunk and an empty trailer section,
// which end a chunked body.
func AppendLastChunk(dst []byte) []byte {
	return append(dst, "0\r\n\r\n"...)
}

// ChunkWriter frames what is written to it as chunks of the chunked coding
// and writes them to W, so that a compressor (which wants an io.Writer) can
// stream a body of unknown length. Close writes the last chunk; it does not
// close W.
type ChunkWriter struct {
	W   io.Writer
	hdr [20]byte
}

// Write writes p as one chunk.
func (w *ChunkWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	h := AppendChunkSize(w.hdr[:0], len(p))
	if _, err := w.W.Write(h); err != nil {
		return 0, err
	}
	if _, err := w.W.Write(p); err != nil {
		return 0, err
	}
	if _, err := w.W.Write(crlf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes the last chunk.
func (w *ChunkWriter) Close() error {
	_, err := w.W.Write(lastChunk)
	return err
}

var (
	crlf      = []byte("\r\n")
	lastChunk = []byte("0\r\n\r\n")
)
