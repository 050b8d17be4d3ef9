// Command idleconns measures what idle connections cost a server: it reads
// the server's resident memory, opens -n connections to it and checks each
// is answered (one echoed byte), reads the memory again and reports the
// difference per connection. With -hold it then keeps them open that long,
// so that a load test can measure the server beside them. Usage:
//
//	idleconns -addr 127.0.0.1:7007 -pid $(pidof portside) -n 15000 [-hold 30s]
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7007", "echo server address")
	pid := flag.Int("pid", 0, "server process id")
	n := flag.Int("n", 15000, "connections")
	hold := flag.Duration("hold", 0, "keep the connections open this long after measuring")
	flag.Parse()
	before := rss(*pid)
	conns := make([]net.Conn, 0, *n)
	start := time.Now()
	buf := make([]byte, 1)
	for i := 0; i < *n; i++ {
		c, err := net.DialTimeout("tcp", *addr, 10*time.Second)
		if err != nil {
			fmt.Fprintf(os.Stderr, "connection %d: %v\n", i, err)
			os.Exit(1)
		}
		// One echoed byte proves the server accepted and serves it.
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte{'x'}); err != nil {
			fmt.Fprintf(os.Stderr, "connection %d: %v\n", i, err)
			os.Exit(1)
		}
		if _, err := c.Read(buf); err != nil {
			fmt.Fprintf(os.Stderr, "connection %d: no echo: %v\n", i, err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	time.Sleep(2 * time.Second) // let the server settle (GC, freed buffers)
	after := rss(*pid)
	fmt.Printf("%d connections accepted and answered in %v; server RSS %d -> %d KiB: %d bytes per connection\n",
		len(conns), time.Since(start).Round(time.Millisecond), before>>10, after>>10, (after-before)/int64(len(conns)))
	time.Sleep(*hold)
	for _, c := range conns {
		c.Close()
	}
}
