package http1

// Character classes of RFC 9110 §5.6.2 (tchar) and §5.5 (field-vchar),
// as lookup tables: one load per byte on the hot path.
var (
	tchar  [256]bool // token characters
	vchar  [256]bool // field-value characters: VCHAR, SP, HTAB, obs-text
	tgchar [256]bool // request-target characters: VCHAR except '#'
	hchar  [256]bool // reg-name characters (RFC 3986 §3.2.2) less pct-encoded
)

func init() {
	for c := 0; c < 256; c++ {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			tchar[c] = true
			hchar[c] = true
		}
		if c > 0x20 && c < 0x7f {
			vchar[c] = true
			tgchar[c] = c != '#'
		}
		if c >= 0x80 {
			vchar[c] = true
		}
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		tchar[c] = true
	}
	for _, c := range "-._~!$&'()*+,;=" {
		hchar[c] = true
	}
	vchar[' '] = true
	vchar['\t'] = true
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return true
}

// lower folds an ASCII letter to lower case.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold reports whether b equals s ignoring ASCII case. s must be lower
// case when it matters for speed only; both sides are folded.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
