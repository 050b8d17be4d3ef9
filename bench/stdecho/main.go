// Command stdecho is the plainest Go echo server: the standard library, one
// goroutine per connection, io.Copy. It is the baseline the engines are
// measured against.
package main

import (
	"flag"
	"io"
	"log"
	"net"
)

func main() {
	port := flag.String("port", "9001", "TCP port to listen on, on 127.0.0.1")
	flag.Parse()
	ln, err := net.Listen("tcp", "127.0.0.1:"+*port)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			// Hiding c's ReadFrom keeps io.Copy to plain reads and
			// writes through its buffer: between two TCP sockets it
			// would splice through a pipe, three descriptors per
			// connection and two more system calls per message.
			io.Copy(c, struct{ io.Reader }{c})
		}()
	}
}
