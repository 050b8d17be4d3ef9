package natsbus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/internal/testkit/natstest"
)

func serverPort(ns *server.Server) int {
	u, _ := url.Parse(ns.ClientURL())
	p, _ := strconv.Atoi(u.Port())
	return p
}

// rec is a member's sink: it records the room messages it is sent.
type rec struct {
	mu     sync.Mutex
	got    []string // "room seq nick text"
	seqs   map[string][]uint64
	notify chan struct{}
}

func newRec() *rec { return &rec{seqs: make(map[string][]uint64), notify: make(chan struct{}, 1)} }

func (r *rec) Write(b []byte) error {
	r.mu.Lock()
	for line := range strings.SplitSeq(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, " ", 3)
		seq, _ := strconv.ParseUint(f[1], 10, 64)
		r.seqs[f[0]] = append(r.seqs[f[0]], seq)
		r.got = append(r.got, line)
	}
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	return nil
}

func (r *rec) Close() error { return nil }

func (r *rec) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// waitFor waits until the member has received n room messages, or until
// deadline; it reports whether it has.
func (r *rec) waitFor(n int, deadline <-chan time.Time) bool {
	for {
		if got := len(r.lines()); got >= n {
			return true
		}
		select {
		case <-r.notify:
		case <-deadline:
			return false
		}
	}
}

// viewWait bounds how long checkViews waits for every member to have every
// message. Generous: a NATS server that goes takes the stream's leader
// election and the consumers it held with it, and a busy machine slows
// both; a message lost is missing however long the wait.
const viewWait = time.Minute

type door struct{}

func (door) Ping(*chat.Member)         {}
func (door) Kick(*chat.Member, string) {}

// encode writes kept messages as "room seq nick text" lines, and nothing
// for events.
func encode(dst []byte, m *chat.Msg, replay bool) []byte {
	if !m.Kind.Kept() || replay {
		return dst
	}
	return fmt.Appendf(dst, "%s %d %s %s\n", m.Room, m.Seq, m.Nick, m.Text)
}

// node is one portside chat hub on a Bus.
type node struct {
	bus    *Bus
	hub    *chat.Hub
	format chat.Format
	all    chat.Format // encodeAll
	cancel context.CancelFunc
	done   chan error
}

func startNode(t *testing.T, o Options) *node {
	t.Helper()
	return startNodeHub(t, o, chat.Options{})
}

// startNodeHub is startNode with options for the hub (its backend is the
// Bus, flood control off).
func startNodeHub(t *testing.T, o Options, ho chat.Options) *node {
	t.Helper()
	if o.Name == "" {
		o.Name = t.Name()
	}
	if o.PresenceTTL == 0 {
		o.PresenceTTL = time.Second
	}
	b, err := Open(t.Context(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ho.Backend, ho.FloodRate = b, -1
	h := chat.New(ho)
	n := &node{bus: b, hub: h, format: h.AddFormat(encode), all: h.AddFormat(encodeAll), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	n.cancel = cancel
	go func() { n.done <- h.Run(ctx) }()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	<-n.done
	n.bus.Close()
}

// member registers nick on the node and joins it to room.
func (n *node) member(t *testing.T, nick, room string) (*chat.Member, *rec) {
	t.Helper()
	r := newRec()
	m := n.hub.NewMember(r, door{}, n.format, false)
	if err := register(n.hub, m, nick, nick+"@test", nick); err != nil {
		t.Fatalf("Register %s: %v", nick, err)
	}
	n.join(t, m, room)
	return m, r
}

// join joins m to room, waiting for the node to catch up with the room if
// it has to.
func (n *node) join(t *testing.T, m *chat.Member, room string) {
	t.Helper()
	done := make(chan error, 1)
	err := n.hub.Join(m, room, nil, func(err error) { done <- err })
	if errors.Is(err, chat.ErrPending) {
		select {
		case err = <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("Join %s: no answer in 20 s", room)
		}
	}
	if err != nil {
		t.Fatalf("Join %s: %v", room, err)
	}
}

// history returns the seqs of room's history on n, as a member joining
// there would have it.
func (n *node) history(t *testing.T, room string) []uint64 {
	t.Helper()
	got := make(chan []uint64, 1)
	n.bus.History(room, 0, 1000, func(msgs []*chat.Msg, err error) {
		if err != nil {
			t.Errorf("History: %v", err)
		}
		var seqs []uint64
		for _, m := range msgs {
			seqs = append(seqs, m.Seq)
		}
		got <- seqs
	})
	select {
	case seqs := <-got:
		return seqs
	case <-time.After(20 * time.Second):
		t.Fatalf("History %s: no answer in 20 s", room)
		return nil
	}
}

type client struct {
	n    *node
	m    *chat.Member
	r    *rec
	nick string
}

// say has c say count messages "nick-i" from first, retrying those the
// backend refuses as busy.
func (c *client) say(t *testing.T, room string, first, count int) {
	t.Helper()
	for i := first; i < first+count; i++ {
		for {
			err := c.n.hub.Say(c.m, room, chat.Say, fmt.Sprintf("%s-%d", c.nick, i))
			if err == nil {
				break
			}
			if !errors.Is(err, chat.ErrBusy) {
				t.Errorf("Say: %v", err)
				return
			}
			time.Sleep(time.Millisecond) // backing off from a full queue, not synchronising
		}
	}
}

// checkViews checks that every member saw the room's messages in one order
// with increasing sequence numbers, each once, and all of them but its own:
// want is how many messages each client said.
func checkViews(t *testing.T, room string, clients []*client, want map[string]int) {
	t.Helper()
	total := 0
	for _, n := range want {
		total += n
	}
	bySeq := map[uint64]string{}
	deadline := time.After(viewWait)
	for _, c := range clients {
		if !c.r.waitFor(total-want[c.nick], deadline) {
			// Say who is missing what, for every member.
			var b strings.Builder
			for _, c := range clients {
				from := map[string]int{}
				for _, l := range c.r.lines() {
					from[strings.SplitN(l, " ", 4)[2]]++
				}
				fmt.Fprintf(&b, "\n  %s has %d of %d, by sender %v", c.nick, len(c.r.lines()), total-want[c.nick], from)
			}
			t.Fatalf("not every member has every message after %v:%s", viewWait, b.String())
		}
	}
	for _, c := range clients {
		lines := c.r.lines()
		if len(lines) != total-want[c.nick] {
			t.Errorf("%s received %d messages, want %d", c.nick, len(lines), total-want[c.nick])
		}
		seen := map[string]bool{}
		var last uint64
		next := map[string]int{}
		for _, l := range lines {
			f := strings.SplitN(l, " ", 4)
			if f[0] != room {
				t.Fatalf("%s: message of room %q, want %q", c.nick, f[0], room)
			}
			seq, _ := strconv.ParseUint(f[1], 10, 64)
			if seq <= last {
				t.Errorf("%s: seq %d after %d: out of order or duplicate", c.nick, seq, last)
			}
			last = seq
			body := f[2] + " " + f[3]
			if other, ok := bySeq[seq]; ok && other != body {
				t.Errorf("seq %d is %q for one member, %q for %s", seq, other, body, c.nick)
			}
			bySeq[seq] = body
			if seen[body] {
				t.Errorf("%s: %q twice", c.nick, body)
			}
			seen[body] = true
			if f[2] == c.nick {
				t.Errorf("%s was sent its own message %q", c.nick, body)
			}
			// Each sender's messages arrive in the order said.
			if wantText := fmt.Sprintf("%s-%d", f[2], next[f[2]]); f[3] != wantText {
				t.Errorf("%s: from %s got %q, want %q", c.nick, f[2], f[3], wantText)
			}
			next[f[2]]++
		}
	}
}

// cluster starts three nodes on urls, two clients each in room.
func threeNodes(t *testing.T, o Options, urls [][]string, room string) ([]*node, []*client) {
	t.Helper()
	var nodes []*node
	var clients []*client
	for i := range 3 {
		o := o
		o.URLs = urls[i%len(urls)]
		n := startNode(t, o)
		nodes = append(nodes, n)
		for j := range 2 {
			nick := fmt.Sprintf("n%dc%d", i, j)
			m, r := n.member(t, nick, room)
			clients = append(clients, &client{n: n, m: m, r: r, nick: nick})
		}
	}
	return nodes, clients
}

func sayAll(t *testing.T, clients []*client, room string, first, count int, want map[string]int) {
	t.Helper()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { c.say(t, room, first, count) })
		want[c.nick] += count
	}
	wg.Wait()
}

func TestThreeNodesOneOrder(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	urls := [][]string{{ns.ClientURL()}}
	for _, room := range []string{"lobby", "a.b"} {
		t.Run("room="+room, func(t *testing.T) {
			o := Options{Stream: "S" + strings.ReplaceAll(room, ".", ""), Subject: "s" + strings.ReplaceAll(room, ".", "") + "."}
			nodes, clients := threeNodes(t, o, urls, room)
			want := map[string]int{}
			sayAll(t, clients, room, 0, 100, want)
			checkViews(t, room, clients, want)

			// Every node's history is the same, in the members' order.
			var first []uint64
			for i, n := range nodes {
				got := n.history(t, room)
				if len(got) != 600 {
					t.Errorf("node %d: history holds %d messages, want 600", i, len(got))
				}
				if i == 0 {
					first = got
				} else if !slices.Equal(got, first) {
					t.Errorf("node %d: history differs from node 0's", i)
				}
			}

			// A node started later reads the same history from the stream
			// when a member joins there.
			o.URLs = urls[0]
			late := startNode(t, o)
			late.member(t, "late", room)
			if got := late.history(t, room); !slices.Equal(got, first) {
				t.Errorf("late node read %d messages, not the history of the others (%d)", len(got), len(first))
			}
		})
	}
}

func TestNickAcrossNodes(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	a := startNode(t, Options{URLs: []string{ns.ClientURL()}})
	b := startNode(t, Options{URLs: []string{ns.ClientURL()}})
	ma, _ := a.member(t, "ana", "lobby")
	mb := b.hub.NewMember(newRec(), door{}, b.format, false)
	tests := []struct {
		nick string
		want error
	}{
		{"ana", chat.ErrNickInUse},
		{"ANA", chat.ErrNickInUse},
		{"bob", nil},
	}
	for _, tt := range tests {
		t.Run(tt.nick, func(t *testing.T) {
			if err := register(b.hub, mb, tt.nick, "x@y", "x"); !errors.Is(err, tt.want) {
				t.Errorf("Register(%q) = %v, want %v", tt.nick, err, tt.want)
			}
		})
	}
	if err := rename(a.hub, ma, "bob"); !errors.Is(err, chat.ErrNickInUse) {
		t.Errorf("Rename to a nick held on another node = %v, want ErrNickInUse", err)
	}
	if err := rename(a.hub, ma, "cyd"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	// ana is free again once released; poll: the release is asynchronous.
	mc := b.hub.NewMember(newRec(), door{}, b.format, false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := register(b.hub, mc, "ana", "x@y", "x")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Register(ana) after rename: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling the bucket, an external state
	}
	a.hub.Quit(ma, "bye")
}

func TestNodeKilled(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	urls := [][]string{{ns.ClientURL()}}
	nodes, clients := threeNodes(t, Options{}, urls, "lobby")
	want := map[string]int{}
	sayAll(t, clients, "lobby", 0, 50, want)
	checkViews(t, "lobby", clients, want)

	// Node 2 dies: its connection goes first, so it releases nothing.
	dead := nodes[2]
	dead.bus.nc.Close()
	dead.stop()
	alive := clients[:4]
	sayAll(t, alive, "lobby", 50, 50, want)
	checkViews(t, "lobby", alive, want)

	// Its members disappear from the room once their presence expires.
	waitMembers(t, nodes[0], "lobby", []string{"n0c0", "n0c1", "n1c0", "n1c1"})

	// Its nicks expire with the bucket's TTL, and may be taken elsewhere.
	m := nodes[0].hub.NewMember(newRec(), door{}, nodes[0].format, false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := register(nodes[0].hub, m, "n2c0", "x@y", "x")
		if err == nil {
			break
		}
		if !errors.Is(err, chat.ErrNickInUse) || time.Now().After(deadline) {
			t.Fatalf("Register(n2c0) after its node died: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling the bucket, an external state
	}

	// Nothing any member saw is lost: a new node loads all of it.
	n := startNode(t, Options{URLs: urls[0]})
	n.member(t, "new", "lobby")
	if got, wantN := len(n.history(t, "lobby")), 6*50+4*50; got != wantN {
		t.Errorf("new node read %d messages, want %d", got, wantN)
	}
}

func TestNATSRestart(t *testing.T) {
	dir := t.TempDir()
	ns := natstest.Server(t, dir, -1, nil, nil, "")
	port := serverPort(ns)
	urls := [][]string{{ns.ClientURL()}}
	nodes, clients := threeNodes(t, Options{}, urls, "lobby")
	probe, _ := nodes[0].member(t, "probe", "lobby")
	want := map[string]int{}
	sayAll(t, clients, "lobby", 0, 30, want)
	checkViews(t, "lobby", clients, want)

	// Members keep talking while NATS stops and starts again; what is
	// refused they say again.
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { c.say(t, "lobby", 30, 60) })
		want[c.nick] += 60
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	deadline := time.Now().Add(10 * time.Second)
	for nodes[0].bus.nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatal("still connected after NATS shut down")
		}
		time.Sleep(10 * time.Millisecond) // polling the client's view of the server
	}
	if err := nodes[0].hub.Say(probe, "lobby", chat.Say, "lost?"); !errors.Is(err, ErrUnavailable) || !errors.Is(err, chat.ErrBusy) {
		t.Errorf("Say while NATS is down = %v, want ErrUnavailable", err)
	}
	newcomer := nodes[0].hub.NewMember(newRec(), door{}, nodes[0].format, false)
	if err := register(nodes[0].hub, newcomer, "newcomer", "x@y", "x"); !errors.Is(err, chat.ErrBusy) {
		t.Errorf("Register while NATS is down = %v, want an error matching chat.ErrBusy", err)
	}
	natstest.Server(t, dir, port, nil, nil, "")
	// Stop the nodes while NATS runs: the restarted server stops first
	// otherwise, being the latest cleanup.
	for _, n := range nodes {
		defer n.stop()
	}
	wg.Wait()
	checkViews(t, "lobby", clients, want)
}

func TestNATSCluster(t *testing.T) {
	// JetStream clustering needs each server's routes configured at start:
	// reserve three ports for the routes.
	var routes []*url.URL
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, &url.URL{Scheme: "nats", Host: ln.Addr().String()})
		ln.Close()
	}
	var ss []*server.Server
	for i, r := range routes {
		port, _ := strconv.Atoi(r.Port())
		c := &server.ClusterOpts{Name: "portside", Host: "127.0.0.1", Port: port}
		ss = append(ss, natstest.Server(t, t.TempDir(), -1, c, routes, fmt.Sprintf("s%d", i+1)))
	}
	s1, s2, s3 := ss[0], ss[1], ss[2]
	all := []string{s1.ClientURL(), s2.ClientURL(), s3.ClientURL()}
	urls := [][]string{
		{s1.ClientURL(), s2.ClientURL(), s3.ClientURL()},
		{s2.ClientURL(), s3.ClientURL(), s1.ClientURL()},
		{s3.ClientURL(), s1.ClientURL(), s2.ClientURL()},
	}
	// The JetStream cluster elects its leader after the routes are up:
	// wait until it creates the stream.
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := Open(t.Context(), Options{URLs: all, Replicas: 3})
		if err == nil {
			b.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream cluster not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // polling the cluster, an external state
	}
	_, clients := threeNodes(t, Options{Replicas: 3}, urls, "lobby")
	want := map[string]int{}
	sayAll(t, clients, "lobby", 0, 50, want)
	checkViews(t, "lobby", clients, want)

	// One server of three goes: the stream keeps a quorum, node 2 fails
	// over, and nothing is lost or repeated.
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { c.say(t, "lobby", 50, 50) })
		want[c.nick] += 50
	}
	s3.Shutdown()
	wg.Wait()
	checkViews(t, "lobby", clients, want)
}

// waitMembers polls until n's hub lists want in room: presence comes from
// another node through NATS, an external state.
func waitMembers(t *testing.T, n *node, room string, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := n.hub.Members(room)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members of %s = %v, want %v", room, got, want)
		}
		time.Sleep(20 * time.Millisecond) // polling presence, an external state
	}
}

func TestPresenceAcrossNodes(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	a := startNode(t, Options{URLs: []string{ns.ClientURL()}})
	b := startNode(t, Options{URLs: []string{ns.ClientURL()}})
	ma, _ := a.member(t, "ana", "lobby")
	b.member(t, "bob", "lobby")
	waitMembers(t, a, "lobby", []string{"ana", "bob"})
	waitMembers(t, b, "lobby", []string{"ana", "bob"})

	if err := rename(a.hub, ma, "cyd"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	waitMembers(t, b, "lobby", []string{"bob", "cyd"})
	if err := a.hub.Part(ma, "lobby", "bye"); err != nil {
		t.Fatalf("Part: %v", err)
	}
	waitMembers(t, b, "lobby", []string{"bob"})
}

// TestLostInFlight: messages accepted while the route to NATS silently
// fails are published again once the node reconnects, and members see
// each exactly once, in order.
func TestLostInFlight(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	px := newProxy(t, strings.TrimPrefix(ns.ClientURL(), "nats://"))
	a := startNode(t, Options{URLs: []string{px.url()}})
	b := startNode(t, Options{URLs: []string{ns.ClientURL()}})
	ma, ra := a.member(t, "ana", "lobby")
	mb, rb := b.member(t, "bob", "lobby")
	clients := []*client{{a, ma, ra, "ana"}, {b, mb, rb, "bob"}}
	want := map[string]int{}
	sayAll(t, clients, "lobby", 0, 10, want)
	checkViews(t, "lobby", clients, want)

	px.blackHole(true)
	clients[0].say(t, "lobby", 10, 20) // accepted: the node does not know yet
	want["ana"] += 20
	// Cut once a publish is on the wire and lost: it must be published
	// again, and the 19 behind it wait for it, so none overtakes it.
	for deadline := time.Now().Add(20 * time.Second); px.lost() < 1; {
		if time.Now().After(deadline) {
			t.Fatal("no publish reached the proxy")
		}
		time.Sleep(5 * time.Millisecond) // observing another process's traffic
	}
	px.cut()
	px.blackHole(false)
	sayAll(t, clients[1:], "lobby", 10, 10, want)
	checkViews(t, "lobby", clients, want)
	if n := a.bus.again.Load(); n < 1 {
		t.Errorf("messages published again: %d, want at least 1", n)
	}
}

// TestReconnectReadsOn: messages the stream sent a node's reader while the
// node's connection to NATS was down, and after which nothing else comes,
// are read once it reconnects: the reader starts again from the last
// message it took.
func TestReconnectReadsOn(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	px := newProxy(t, strings.TrimPrefix(ns.ClientURL(), "nats://"))
	a := startNode(t, Options{URLs: []string{px.url()}})
	b := startNode(t, Options{URLs: []string{ns.ClientURL()}})
	ma, ra := a.member(t, "ana", "lobby")
	mb, rb := b.member(t, "bob", "lobby")
	clients := []*client{{a, ma, ra, "ana"}, {b, mb, rb, "bob"}}
	want := map[string]int{}
	sayAll(t, clients, "lobby", 0, 10, want)
	checkViews(t, "lobby", clients, want)

	px.cut()
	clients[1].say(t, "lobby", 10, 5) // the last the room gets
	want["bob"] += 5
	checkViews(t, "lobby", clients, want)
}
