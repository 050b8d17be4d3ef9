package stream_test

import (
	"context"
	"fmt"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/server"
	"github.com/portside/portside/stream"
)

// Silly's echo server: a function per connection that reads a line and
// writes it back, here under the goroutine engine.
func ExampleHandler() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	echo := stream.Handler(func(c *stream.Conn) {
		for {
			line, err := c.ReadUntil('\n')
			if err != nil {
				return // io.EOF: the peer is done
			}
			c.Write(line)
		}
	})
	srv, err := engine.Start(ctx, engine.Config{
		Engine:  "goroutine",
		Addr:    "127.0.0.1:0",
		Service: &server.Service{Name: "echo", Handler: echo},
	})
	if err != nil {
		panic(err)
	}

	c, err := stream.Dial(ctx, srv.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.WriteString("hello, silly\n")
	line, err := c.ReadLine()
	fmt.Printf("%s %v\n", line, err)
	// Output: hello, silly <nil>
}

// A client reads a length-prefixed answer: a line with the length, then
// that many bytes.
func ExampleDial() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	hello := stream.Handler(func(c *stream.Conn) { c.WriteString("5\nhello") })
	srv, err := engine.Start(ctx, engine.Config{Addr: "127.0.0.1:0", Service: &server.Service{Handler: hello}})
	if err != nil {
		panic(err)
	}

	c, err := stream.Dial(ctx, srv.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	var n int
	head, _ := c.ReadLine()
	fmt.Sscan(string(head), &n)
	body, err := c.ReadN(n)
	fmt.Printf("%q %v\n", body, err)
	// Output: "hello" <nil>
}
