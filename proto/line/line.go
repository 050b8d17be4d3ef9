// Package line frames a byte stream into lines, for protocols spoken from
// telnet and nc: echo's line and shell modes, the chat line protocol.
//
// It never does I/O: Next looks at the bytes a connection has buffered and
// says where the next line ends, so an engine can keep the rest for later.
package line

import (
	"bytes"
	"errors"
)

// ErrTooLong is returned when a line exceeds the limit without ending. The
// connection should be closed: the peer is not speaking in lines, and
// waiting for the end would hold unbounded memory.
var ErrTooLong = errors.New("line: line too long")

// Next finds the first complete line in in. It returns the line without its
// terminator (LF, or CRLF as telnet sends it) and the number of bytes it
// spans including the terminator. If in holds no complete line it returns
// n == 0, or ErrTooLong when max > 0 and the partial line is already longer
// than max bytes. A complete line longer than max is also ErrTooLong.
func Next(in []byte, max int) (line []byte, n int, err error) {
	i := bytes.IndexByte(in, '\n')
	if i < 0 {
		// A partial line may end in the CR of a CRLF still to come.
		if max > 0 && len(in) > max && !(len(in) == max+1 && in[max] == '\r') {
			return nil, 0, ErrTooLong
		}
		return nil, 0, nil
	}
	line = in[:i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if max > 0 && len(line) > max {
		return nil, 0, ErrTooLong
	}
	return line, i + 1, nil
}

// Scanner walks the complete lines of one buffer. Used counts the bytes of
// the lines returned so far: what a handler reports as consumed.
type Scanner struct {
	in   []byte
	max  int
	Used int
	err  error
	line []byte
}

// NewScanner scans in for lines of at most max bytes (0: no limit).
func NewScanner(in []byte, max int) Scanner { return Scanner{in: in, max: max} }

// Scan advances to the next complete line and reports whether there is one.
func (s *Scanner) Scan() bool {
	line, n, err := Next(s.in[s.Used:], s.max)
	if err != nil {
		s.err = err
		return false
	}
	if n == 0 {
		return false
	}
	s.line = line
	s.Used += n
	return true
}

// Line is the current line, valid as long as the buffer is.
func (s *Scanner) Line() []byte { return s.line }

// Err is ErrTooLong if scanning stopped at an overlong line.
func (s *Scanner) Err() error { return s.err }
