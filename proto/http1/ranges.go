package http1

// ByteRange is one satisfiable byte range of a representation: Length
// bytes from Start.
type ByteRange struct {
	Start, Length int64
}

// ParseRanges reads a Range field value (RFC 9110 §14.2) against a
// representation of size bytes, for a server that serves several ranges
// as multipart/byteranges (§14.6). It appends the satisfiable ranges to dst
// in the order asked for and returns the status to answer with:
//
//   - 206: dst[len(dst on entry):] holds one or more ranges. Unsatisfiable
//     ones among them were dropped, as §14.1.2 says.
//   - 416: the field is well formed but no range is satisfiable.
//   - 200: ignore the field and serve the whole representation: a unit
//     other than bytes, a malformed value, more than max ranges, or two
//     satisfiable ranges that overlap. §14.2 lets a server ignore such
//     sets; serving them would let a few bytes of request ask for many
//     copies of a large file.
//
// It does not allocate when dst has room for max ranges.
func ParseRanges(dst []ByteRange, v []byte, size int64, max int) ([]ByteRange, int) {
	base := len(dst)
	v = trimOWS(v)
	if len(v) < 6 || !equalFold(v[:6], "bytes=") {
		return dst, 200
	}
	v = v[6:]
	specs := 0
	for len(v) > 0 {
		// 1#range-spec: elements separated by commas, empty ones allowed
		// (RFC 9110 §5.6.1).
		end := 0
		for end < len(v) && v[end] != ',' {
			end++
		}
		spec := trimOWS(v[:end])
		if end < len(v) {
			end++
		}
		v = v[end:]
		if len(spec) == 0 {
			continue
		}
		specs++
		if specs > max {
			return dst[:base], 200
		}
		start, length, ok, sat := rangeSpec(spec, size)
		if !ok {
			return dst[:base], 200
		}
		if sat {
			dst = append(dst, ByteRange{start, length})
		}
	}
	if specs == 0 {
		return dst[:base], 200
	}
	got := dst[base:]
	if len(got) == 0 {
		return dst, 416
	}
	for i := range got {
		for j := i + 1; j < len(got); j++ {
			a, b := got[i], got[j]
			if a.Start < b.Start+b.Length && b.Start < a.Start+a.Length {
				return dst[:base], 200
			}
		}
	}
	return dst, 206
}

// rangeSpec parses one range-spec: ok reports the syntax, sat whether any
// byte of it exists.
func rangeSpec(spec []byte, size int64) (start, length int64, ok, sat bool) {
	dash := -1
	for i, c := range spec {
		switch {
		case c == '-' && dash < 0:
			dash = i
		case c < '0' || c > '9':
			return 0, 0, false, false
		}
	}
	if dash < 0 {
		return 0, 0, false, false
	}
	first, last := spec[:dash], spec[dash+1:]
	if len(first) == 0 {
		n, ok := parseLength(last)
		if !ok {
			return 0, 0, false, false
		}
		if n == 0 || size == 0 {
			return 0, 0, true, false
		}
		n = min(n, size)
		return size - n, n, true, true
	}
	a, ok := parseLength(first)
	if !ok {
		return 0, 0, false, false
	}
	b := size - 1
	if len(last) > 0 {
		b2, ok := parseLength(last)
		if !ok || b2 < a {
			return 0, 0, false, false
		}
		b = min(b, b2)
	}
	if a >= size {
		return 0, 0, true, false
	}
	return a, b - a + 1, true, true
}

// AppendRangePart appends the delimiter and header of one part of a
// multipart/byteranges body (RFC 9110 §14.6): CRLF "--" boundary CRLF,
// Content-Type (if typ is not empty), Content-Range and the empty line. The
// part's bytes follow; AppendRangesEnd closes the body. The leading CRLF
// is part of the delimiter, so the first part may start with it too.
func AppendRangePart(dst []byte, boundary, typ string, r ByteRange, size int64) []byte {
	dst = append(dst, "\r\n--"...)
	dst = append(dst, boundary...)
	dst = append(dst, "\r\n"...)
	if typ != "" {
		dst = AppendHeader(dst, "Content-Type", typ)
	}
	dst = AppendContentRange(dst, r.Start, r.Length, size)
	return append(dst, "\r\n"...)
}

// AppendRangesEnd appends the close delimiter of a multipart/byteranges
// body.
func AppendRangesEnd(dst []byte, boundary string) []byte {
	dst = append(dst, "\r\n--"...)
	dst = append(dst, boundary...)
	return append(dst, "--\r\n"...)
}

// RangesLength returns the Content-Length of the multipart/byteranges body
// that AppendRangePart and AppendRangesEnd frame around rs.
func RangesLength(boundary, typ string, rs []ByteRange, size int64) int64 {
	var n int64
	var buf [128]byte
	for _, r := range rs {
		n += int64(len(AppendRangePart(buf[:0], boundary, "", r, size))) + r.Length
		if typ != "" {
			n += int64(len("Content-Type: \r\n") + len(typ))
		}
	}
	return n + int64(len(boundary)) + 8
}
