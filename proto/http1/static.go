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
	start, length, ok, sat := rangeSpec(trimOWS(v[6:]), size)
	switch {
	case !ok:
		return 0, 0, 200 // several ranges, or malformed
	case !sat:
		return 0, 0, 416
	}
	return start, length, 206
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
