package httpd

import (
	"bytes"
	"errors"
	"mime"
	"strings"
	"unicode/utf8"
)

// formParser is an incremental multipart/form-data parser (RFC 7578,
// RFC 2046 §5.1): body bytes go in, in pieces of any size, and part
// headers and data come out through a formSink, so a file part of any size
// passes through in bounded memory. Like package http1 it does no I/O.
type formParser struct {
	delim []byte // CRLF "--" boundary
	state formState
	carry []byte // data that may be the start of a delimiter
	hdr   []byte // part header being read
	pad   int    // transport padding seen after a delimiter
}

type formState uint8

const (
	fsPreamble       formState = iota // before the first delimiter
	fsAfterDelim                      // just after a delimiter: "--" or padding and CRLF
	fsAfterDelimCR                    // saw CR after a delimiter
	fsAfterDelimDash                  // saw one '-' after a delimiter
	fsHeader                          // a part's header section
	fsData                            // a part's data
	fsDone                            // after the close delimiter
)

// formSink receives a form's parts.
type formSink interface {
	partStart(name, filename string) error
	partData(b []byte) error
	partEnd() error
}

const maxPartHeader = 16 << 10

var (
	errFormHeader  = errors.New("httpd: malformed multipart part header")
	errFormFraming = errors.New("httpd: malformed multipart framing")
)

// newFormParser returns a parser for the boundary given in Content-Type.
func newFormParser(boundary string) *formParser {
	fp := &formParser{delim: []byte("\r\n--" + boundary)}
	// The first delimiter has no CRLF before it: pretend there was one,
	// so every delimiter looks the same.
	fp.carry = append(make([]byte, 0, 2*len(fp.delim)), '\r', '\n')
	return fp
}

// done reports whether the close delimiter was seen.
func (fp *formParser) done() bool { return fp.state == fsDone }

// feed parses the next piece of body.
func (fp *formParser) feed(in []byte, s formSink) error {
	for len(in) > 0 {
		switch fp.state {
		case fsPreamble, fsData:
			var err error
			in, err = fp.scan(in, s)
			if err != nil {
				return err
			}
		case fsAfterDelim:
			switch c := in[0]; c {
			case '-':
				fp.state = fsAfterDelimDash
			case '\r':
				fp.state = fsAfterDelimCR
			case ' ', '\t':
				if fp.pad++; fp.pad > 64 {
					return errFormFraming
				}
			default:
				return errFormFraming
			}
			in = in[1:]
		case fsAfterDelimDash:
			if in[0] != '-' {
				return errFormFraming
			}
			fp.state = fsDone
			in = in[1:]
		case fsAfterDelimCR:
			if in[0] != '\n' {
				return errFormFraming
			}
			fp.state, fp.hdr = fsHeader, fp.hdr[:0]
			in = in[1:]
		case fsHeader:
			var err error
			in, err = fp.header(in, s)
			if err != nil {
				return err
			}
		case fsDone:
			return nil // the epilogue is ignored
		}
	}
	return nil
}

// scan passes on data up to the next delimiter, holding back what might
// be the start of one.
func (fp *formParser) scan(in []byte, s formSink) ([]byte, error) {
	dl := len(fp.delim)
	emit := func(b []byte) error {
		if fp.state == fsData && len(b) > 0 {
			return s.partData(b)
		}
		return nil
	}
	if len(fp.carry) > 0 {
		take := min(len(in), dl)
		carried := len(fp.carry)
		tmp := append(fp.carry, in[:take]...)
		if k := bytes.Index(tmp, fp.delim); k >= 0 {
			if err := emit(tmp[:k]); err != nil {
				return nil, err
			}
			fp.carry = fp.carry[:0]
			return in[k+dl-carried:], fp.delimiter(s)
		}
		if len(tmp) < dl {
			fp.carry = tmp
			return nil, nil
		}
		e := len(tmp) - (dl - 1)
		if err := emit(tmp[:e]); err != nil {
			return nil, err
		}
		if e >= carried {
			fp.carry = fp.carry[:0]
			return in[e-carried:], nil
		}
		fp.carry = fp.carry[:copy(fp.carry[:cap(fp.carry)], tmp[e:])]
		return nil, nil
	}
	if k := bytes.Index(in, fp.delim); k >= 0 {
		if err := emit(in[:k]); err != nil {
			return nil, err
		}
		return in[k+dl:], fp.delimiter(s)
	}
	safe := max(len(in)-(dl-1), 0)
	if err := emit(in[:safe]); err != nil {
		return nil, err
	}
	fp.carry = append(fp.carry[:0], in[safe:]...)
	return nil, nil
}

// delimiter ends the part in progress, if any.
func (fp *formParser) delimiter(s formSink) error {
	was := fp.state
	fp.state, fp.pad = fsAfterDelim, 0
	if was == fsData {
		return s.partEnd()
	}
	return nil
}

// header collects a part's header section and starts the part.
func (fp *formParser) header(in []byte, s formSink) ([]byte, error) {
	start := max(len(fp.hdr)-3, 0)
	take := min(len(in), maxPartHeader+1-len(fp.hdr))
	fp.hdr = append(fp.hdr, in[:take]...)
	var end int
	if len(fp.hdr) >= 2 && fp.hdr[0] == '\r' && fp.hdr[1] == '\n' {
		end = 2 // no fields at all
	} else if k := bytes.Index(fp.hdr[start:], []byte("\r\n\r\n")); k >= 0 {
		end = start + k + 4
	} else {
		if len(fp.hdr) > maxPartHeader {
			return nil, errFormHeader
		}
		return nil, nil
	}
	used := end - (len(fp.hdr) - take)
	name, filename, err := partNames(fp.hdr[:end])
	if err != nil {
		return nil, err
	}
	fp.state = fsData
	if err := s.partStart(name, filename); err != nil {
		return nil, err
	}
	return in[used:], nil
}

// partNames reads the form field name and file name from a part's
// Content-Disposition (RFC 7578 §4.2).
func partNames(hdr []byte) (name, filename string, err error) {
	for _, line := range strings.Split(string(hdr), "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "Content-Disposition") {
			continue
		}
		disp, params, err := mime.ParseMediaType(strings.TrimSpace(v))
		if err != nil || disp != "form-data" {
			return "", "", errFormHeader
		}
		// mime.ParseMediaType decodes filename*= (RFC 2231) into filename.
		return params["name"], params["filename"], nil
	}
	return "", "", errFormHeader
}

// sanitizeName turns a client's file name into a safe single name: the
// last element of any path (both slash kinds), without control characters,
// leading dots or surrounding spaces, at most 255 bytes of valid UTF-8. It
// returns "" if nothing usable is left.
func sanitizeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ToValidUTF8(name, "")
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	name = strings.TrimLeft(name, ". ")
	for len(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || name == "." || name == ".." {
		return ""
	}
	return name
}
