package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/server"
)

// upper answers each line with the line in capitals. It keeps nothing
// between calls: the engine keeps a partial line and hands it again with
// what follows.
type upper struct{ server.Base }

func (upper) Data(c server.Conn, in []byte) (int, error) {
	used := 0
	for {
		i := bytes.IndexByte(in[used:], '\n')
		if i < 0 {
			return used, nil
		}
		c.Write(bytes.ToUpper(in[used : used+i+1]))
		used += i + 1
	}
}

// A handler in the callback style, started with engine.Start under the
// default engine (epoll) and spoken to over a real socket.
func ExampleHandler() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	srv, err := engine.Start(ctx, engine.Config{
		Addr:    "127.0.0.1:0",
		Service: &server.Service{Name: "upper", Handler: upper{}, Stateless: true},
	})
	if err != nil {
		panic(err)
	}
	nc, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	fmt.Fprint(nc, "hel")
	fmt.Fprint(nc, "lo\n")
	line, _ := bufio.NewReader(nc).ReadString('\n')
	fmt.Print(line)
	// Output: HELLO
}
