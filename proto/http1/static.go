package http1

import "strconv"

// ParseRange reads a Range field value (RFC 9110 §14.2) against a
// representation of size bytes, for a server that serves single byte ranges:
//
//   - 206: serve length bytes from start, with AppendContentRange.
//   - 416: no byte of the range exists; answer with
//     AppendContentRangeUnsatisfied.
//   - 200: ignore the field and serve the whole representation, as a
//     server may (§14.2): a unit other than bytes, a malformed value, or
//     several ranges.
func ParseRange(v []byte, size int64) (start, length int64, status int) {
	v = trimOWS(v)
	if len(v) < 6 || !equalFold(v[:6], "bytes=") {
		return 0, 0, 200
	}
	spec := trimOWS(v[6:])
	dash := -1
	for i, c := range spec {
		switch {
		case c == '-' && dash < 0:
			dash = i
		case c < '0' || c > '9':
			return 0, 0, 200 // several ranges, or malformed
		}
	}
	if dash < 0 {
		return 0, 0, 200
	}
	first, last := spec[:dash], spec[dash+1:]
	if len(first) == 0 {
		// suffix-range: the last n bytes.
		n, ok := parseLength(last)
		if !ok {
			return 0, 0, 200
		}
		if n == 0 || size == 0 {
			return 0, 0, 416
		}
		n = min(n, size)
		return size - n, n, 206
	}
	a, ok := parseLength(first)
	if !ok {
		return 0, 0, 200
	}
	b := size - 1
	if len(last) > 0 {
		if b2, ok := parseLength(last); !ok || b2 < a {
			return 0, 0, 200
		} else if b2 < b {
			b = b2
		}
	}
	if a >= size {
		return 0, 0, 416
	}
	return a, b - a + 1, 206
}

// AppendContentRange appends "Content-Range: bytes first-last/size\r\n" for
// a 206 response of length bytes from start.
func AppendContentRange(dst []byte, start, length, size int64) []byte {
	dst = append(dst, "Content-Range: bytes "...)
	dst = strconv.AppendInt(dst, start, 10)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, start+length-1, 10)
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, size, 10)
	return append(dst, "\r\n"...)
}

// AppendContentRangeUnsatisfied appends "Content-Range: bytes */size\r\n"
// for a 416 response (RFC 9110 §15.5.17).
func AppendContentRangeUnsatisfied(dst []byte, size int64) []byte {
	dst = append(dst, "Content-Range: bytes */"...)
	dst = strconv.AppendInt(dst, size, 10)
	return append(dst, "\r\n"...)
}
