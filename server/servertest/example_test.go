package servertest_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/portside/portside/server"
	"github.com/portside/portside/server/servertest"
)

// upper answers each line in capitals.
type upper struct{ server.Base }

func (upper) Data(c server.Conn, in []byte) (int, error) {
	i := bytes.LastIndexByte(in, '\n')
	if i < 0 {
		return 0, nil // no whole line yet: the engine keeps it
	}
	c.Write(bytes.ToUpper(in[:i+1]))
	return i + 1, nil
}

// Run plays a connection with its input whole, a byte at a time, cut in
// two everywhere and at random, and fails the test if the answers differ.
func ExampleRun() {
	t := new(testing.T) // in a test, the test's own t
	tr := servertest.Run(t, upper{}, []byte("hello\nworld\n"))
	fmt.Printf("%q closed by handler: %t, failed: %t\n", tr.Output, tr.Closed, t.Failed())
	// Output: "HELLO\nWORLD\n" closed by handler: false, failed: false
}

// idle says "ping" after 30 seconds of silence, and goes after a second.
type idle struct{ server.Base }

func (idle) Open(c server.Conn) { c.SetTimer(30 * time.Second) }

func (idle) Data(c server.Conn, in []byte) (int, error) {
	c.SetTimer(30 * time.Second)
	return len(in), nil
}

func (idle) Timer(c server.Conn) {
	if c.Value() == nil {
		c.SetValue("pinged")
		c.WriteString("ping\n")
		c.SetTimer(time.Second)
		return
	}
	c.Close()
}

// A Session plays the engine step by step: input, then time passing on a
// fake clock, which fires the handler's timers.
func ExampleSession() {
	t := new(testing.T) // in a test, the test's own t
	s := servertest.Start(t, idle{})
	s.SendString("hi\n")
	s.Advance(29 * time.Second)
	fmt.Printf("after 29s: %q\n", s.Conn().Take())
	s.Advance(time.Second)
	fmt.Printf("after 30s: %q\n", s.Conn().Take())
	s.Advance(time.Second)
	done, err := s.Finished()
	fmt.Println("closed:", done, err)
	// Output:
	// after 29s: ""
	// after 30s: "ping\n"
	// closed: true <nil>
}

// A Conn alone records what a handler asks of it, for a test that calls
// the handler itself.
func ExampleConn() {
	c := servertest.NewConn()
	h := upper{}
	n, _ := h.Data(c, []byte("one\ntw"))
	fmt.Printf("consumed %d, wrote %q, closed %t\n", n, c.Take(), c.Closed())
	// Output: consumed 4, wrote "ONE\n", closed false
}
