package httpd

import "unicode/utf8"

// pathStatus is the outcome of cleaning a request path.
type pathStatus uint8

const (
	pathOK     pathStatus = iota
	pathHidden            // a segment starts with '.' and dotfiles are off: 404
	pathBad               // refused outright: 400
)

// cleanPath percent-decodes the path of a request target into dst and
// checks it, before any file is looked at. It refuses (pathBad) a path that
// does not start with '/', that decodes to NUL or another control byte, to
// a backslash, to invalid UTF-8 (overlong forms included) or to a ".."
// segment: a client that sends them is probing, not browsing, since
// browsers resolve dot segments before sending (RFC 3986 §5.2.4). Empty and
// "." segments are dropped. The result is "/"-rooted, keeps a trailing
// slash, and has no empty, "." or ".." segment, so it names a location
// beneath the root on every platform.
func cleanPath(dst, raw []byte, dotfiles bool) ([]byte, pathStatus) {
	dst = dst[:0]
	if len(raw) == 0 || raw[0] != '/' {
		return dst, pathBad
	}
	status := pathOK
	seg := 0 // start of the current segment in dst, after its '/'
	dst = append(dst, '/')
	seg = 1
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) {
				return dst, pathBad
			}
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			if unhex(raw[i+1]) > 15 || unhex(raw[i+2]) > 15 {
				return dst, pathBad
			}
			i += 2
		}
		switch {
		case c < 0x20 || c == 0x7f || c == '\\':
			return dst, pathBad
		case c == '/':
			if st := endSegment(&dst, seg, dotfiles); st == pathBad {
				return dst, pathBad
			} else if st == pathHidden {
				status = pathHidden
			}
			if dst[len(dst)-1] != '/' {
				dst = append(dst, '/')
			}
			seg = len(dst)
		default:
			dst = append(dst, c)
		}
	}
	if st := endSegment(&dst, seg, dotfiles); st == pathBad {
		return dst, pathBad
	} else if st == pathHidden {
		status = pathHidden
	}
	if !utf8.Valid(dst) {
		return dst, pathBad
	}
	return dst, status
}

// endSegment checks the segment dst[seg:], dropping it if it is ".".
func endSegment(dst *[]byte, seg int, dotfiles bool) pathStatus {
	s := (*dst)[seg:]
	switch {
	case len(s) == 0:
		return pathOK
	case len(s) == 1 && s[0] == '.':
		*dst = (*dst)[:seg]
		return pathOK
	case len(s) == 2 && s[0] == '.' && s[1] == '.':
		return pathBad
	case s[0] == '.' && !dotfiles:
		return pathHidden
	}
	return pathOK
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 255
}

// relPath turns a cleaned path into a name for os.Root: no leading or
// trailing slash, "." for the root itself.
func relPath(clean []byte) []byte {
	r := clean[1:]
	if len(r) > 0 && r[len(r)-1] == '/' {
		r = r[:len(r)-1]
	}
	if len(r) == 0 {
		return dot
	}
	return r
}

var dot = []byte(".")
