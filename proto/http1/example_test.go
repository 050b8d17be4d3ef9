package http1_test

import (
	"fmt"

	"github.com/portside/portside/proto/http1"
)

// A handler's Data method runs this loop over all unread input: two
// pipelined requests, the second with a chunked body that is still arriving.
func ExampleParser() {
	var p http1.Parser
	in := []byte("GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
	off := 0
	for {
		n, ev, err := p.Next(in[off:])
		off += n
		if err != nil {
			fmt.Println("answer", err.(*http1.Error).Status, "and close")
			return
		}
		r := p.Request()
		switch ev {
		case http1.Head:
			fmt.Printf("head: %s %s host=%s keep-alive=%t\n", r.Method, r.Path, r.Host, r.KeepAlive())
		case http1.Body:
			fmt.Printf("body: %q\n", p.Body())
		case http1.End:
			fmt.Println("end: respond now")
		case http1.NeedMore:
			fmt.Printf("consumed %d of %d bytes; wait for more\n", off, len(in))
			return
		}
	}
	// Output:
	// head: GET /a host=example.com keep-alive=true
	// end: respond now
	// head: POST /b host=example.com keep-alive=true
	// body: "hel"
	// consumed 111 of 111 bytes; wait for more
}
