// Command idleconns measures what idle connections cost a server: it reads
// the server's memory, opens -n connections to it and checks each is
// answered (one echoed byte), reads the memory again and reports the
// difference per connection. With -hold it then keeps them open that long,
// so that a load test can measure the server beside them. Usage:
//
//	idleconns -addr 127.0.0.1:7007 -pid $(pidof portside) -n 15000 [-hold 30s] [-json out.json]
//
// Memory is read two ways: the server process's resident set (RSS), and the
// private memory (resident pages no other process maps) of the server and
// all its descendants, which is the figure for a server that forks a
// process per connection: what each child adds of its own, its copy of the
// executable's pages shared with the others being paid once. (PSS, which
// splits shared pages among their sharers, would move with every other
// process running the same executable, another server's children
// included.)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

func die(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// kbField reads one "Name: N kB" field of a /proc file, in bytes.
func kbField(path, name string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == name {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, name)
}

// tree lists pid and its descendants.
func tree(pid int) []int {
	children := map[int][]int{}
	dir, _ := os.ReadDir("/proc")
	for _, d := range dir {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // state ppid ...
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		children[pp] = append(children[pp], p)
	}
	all := []int{pid}
	for i := 0; i < len(all); i++ {
		all = append(all, children[all[i]]...)
	}
	return all
}

// memory is the server's RSS, its tree's private memory and how many
// processes that is.
type memory struct {
	RSS         int64 `json:"rss_bytes"`
	TreePrivate int64 `json:"tree_private_bytes"`
	Processes   int   `json:"processes"`
}

func measure(pid int) memory {
	rss, err := kbField("/proc/"+strconv.Itoa(pid)+"/status", "VmRSS:")
	if err != nil {
		die(err)
	}
	m := memory{RSS: rss}
	for _, p := range tree(pid) {
		path := "/proc/" + strconv.Itoa(p) + "/smaps_rollup"
		clean, err := kbField(path, "Private_Clean:")
		if err != nil {
			continue // gone meanwhile
		}
		dirty, _ := kbField(path, "Private_Dirty:")
		m.TreePrivate += clean + dirty
		m.Processes++
	}
	return m
}

// Result is what -json writes.
type Result struct {
	Addr        string  `json:"addr"`
	Connections int     `json:"connections"`
	OpenSeconds float64 `json:"open_s"`
	Before      memory  `json:"before"`
	After       memory  `json:"after"`
	// Per connection: the server's RSS grown, and its process tree's
	// private memory.
	RSSPerConn     int64 `json:"rss_bytes_per_conn"`
	PrivatePerConn int64 `json:"tree_private_bytes_per_conn"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7007", "echo server address")
	pid := flag.Int("pid", 0, "server process id")
	n := flag.Int("n", 15000, "connections")
	hold := flag.Duration("hold", 0, "keep the connections open this long after measuring")
	out := flag.String("json", "", "also write the result as JSON to this file")
	flag.Parse()
	if *n <= 0 {
		die(fmt.Errorf("-n %d: want at least one connection", *n))
	}
	before := measure(*pid)
	conns := make([]net.Conn, 0, *n)
	start := time.Now()
	buf := make([]byte, 1)
	for i := 0; i < *n; i++ {
		c, err := net.DialTimeout("tcp", *addr, 10*time.Second)
		if err != nil {
			die(fmt.Errorf("connection %d: %v", i, err))
		}
		// One echoed byte proves the server accepted and serves it.
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte{'x'}); err != nil {
			die(fmt.Errorf("connection %d: %v", i, err))
		}
		if _, err := c.Read(buf); err != nil {
			die(fmt.Errorf("connection %d: no echo: %v", i, err))
		}
		c.SetDeadline(time.Time{})
		conns = append(conns, c)
	}
	took := time.Since(start)
	time.Sleep(2 * time.Second) // let the server settle (GC, freed buffers)
	after := measure(*pid)
	r := Result{
		Addr: *addr, Connections: len(conns), OpenSeconds: took.Seconds(), Before: before, After: after,
		RSSPerConn:     (after.RSS - before.RSS) / int64(len(conns)),
		PrivatePerConn: (after.TreePrivate - before.TreePrivate) / int64(len(conns)),
	}
	fmt.Printf("%d connections accepted and answered in %v; server RSS %d -> %d KiB: %d bytes per connection",
		len(conns), took.Round(time.Millisecond), before.RSS>>10, after.RSS>>10, r.RSSPerConn)
	if after.Processes > 1 || before.Processes > 1 {
		fmt.Printf("; %d -> %d processes, private memory %d -> %d KiB: %d bytes per connection",
			before.Processes, after.Processes, before.TreePrivate>>10, after.TreePrivate>>10, r.PrivatePerConn)
	}
	fmt.Println()
	if *out != "" {
		b, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			die(err)
		}
	}
	time.Sleep(*hold)
	for _, c := range conns {
		c.Close()
	}
}
