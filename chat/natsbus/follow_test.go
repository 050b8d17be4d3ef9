package natsbus

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/internal/testkit/natstest"
)

// transcript is a member's sink that records everything it is sent, one
// line each, in the words of encodeAll.
type transcript struct {
	mu     sync.Mutex
	lines  []string
	notify chan struct{}
}

func newTranscript() *transcript { return &transcript{notify: make(chan struct{}, 1)} }

func (tr *transcript) Write(b []byte) error {
	tr.mu.Lock()
	for l := range strings.SplitSeq(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l != "" {
			tr.lines = append(tr.lines, l)
		}
	}
	tr.mu.Unlock()
	select {
	case tr.notify <- struct{}{}:
	default:
	}
	return nil
}

func (tr *transcript) Close() error { return nil }

func (tr *transcript) all() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.lines)
}

// waitLine waits until the member was sent want.
func (tr *transcript) waitLine(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !slices.Contains(tr.all(), want) {
		select {
		case <-tr.notify:
		case <-deadline:
			t.Fatalf("never sent %q; got:\n%s", want, strings.Join(tr.all(), "\n"))
		}
	}
}

// encodeAll writes whatever a member is sent.
func encodeAll(dst []byte, m *chat.Msg, replay bool) []byte {
	switch {
	case m.To != "":
		return fmt.Appendf(dst, "PRIV %s->%s %s\n", m.Nick, m.To, m.Text)
	case m.Kind.Kept() && replay:
		return fmt.Appendf(dst, "REPLAY %s %d %s %s\n", m.Room, m.Seq, m.Nick, m.Text)
	case m.Kind.Kept():
		return fmt.Appendf(dst, "MSG %s %d %s %s\n", m.Room, m.Seq, m.Nick, m.Text)
	case m.Kind == chat.Join:
		return fmt.Appendf(dst, "JOIN %s %s\n", m.Room, m.Nick)
	case m.Kind == chat.Part:
		return fmt.Appendf(dst, "PART %s %s %s\n", m.Room, m.Nick, m.Text)
	case m.Kind == chat.Quit:
		return fmt.Appendf(dst, "QUIT %s %s\n", m.Nick, m.Text)
	case m.Kind == chat.Rename:
		return fmt.Appendf(dst, "RENAME %s %s\n", m.Nick, m.Text)
	case m.Kind == chat.Topic:
		return fmt.Appendf(dst, "TOPIC %s %s %s\n", m.Room, m.Nick, m.Text)
	}
	return dst
}

// watcher registers nick on n with a transcript of all it is sent, and
// joins it to rooms.
func (n *node) watcher(t *testing.T, nick string, rooms ...string) (*chat.Member, *transcript) {
	t.Helper()
	tr := newTranscript()
	m := n.hub.NewMember(tr, door{}, n.all, false)
	if err := register(n.hub, m, nick, nick+"@test", nick); err != nil {
		t.Fatalf("Register %s: %v", nick, err)
	}
	for _, r := range rooms {
		n.join(t, m, r)
	}
	return m, tr
}

// readers lists the rooms the stream's consumers read.
func readers(t *testing.T, n *node) []string {
	t.Helper()
	var subjects []string
	l := n.bus.stream.ListConsumers(t.Context())
	for info := range l.Info() {
		subjects = append(subjects, strings.TrimPrefix(info.Config.FilterSubject, n.bus.o.Subject))
	}
	if err := l.Err(); err != nil {
		t.Fatalf("listing consumers: %v", err)
	}
	slices.Sort(subjects)
	return subjects
}

// waitReaders polls the stream until its consumers read exactly rooms (a
// consumer is deleted in the background once unused).
func waitReaders(t *testing.T, n *node, rooms ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := readers(t, n)
		if slices.Equal(got, rooms) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream's consumers read %v, want %v", got, rooms)
		}
		time.Sleep(20 * time.Millisecond) // polling NATS, an external state
	}
}

// waitHistory polls until n's history of room holds n messages: they
// come back from the stream.
func waitHistory(t *testing.T, n *node, room string, count int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(n.history(t, room)) < count {
		if time.Now().After(deadline) {
			t.Fatalf("history of %s never reached %d messages", room, count)
		}
		time.Sleep(10 * time.Millisecond) // polling the stream, an external state
	}
}

// TestFollowsMembersRooms checks that a node reads only the rooms its
// members are in, catches up with a room when it gets a member there (the
// replay on join is the room's latest messages, then news follows), and
// stops reading it when the last member leaves.
func TestFollowsMembersRooms(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	a := startNode(t, Options{URLs: []string{ns.ClientURL()}})
	b := startNode(t, Options{URLs: []string{ns.ClientURL()}})
	a.watcher(t, "ana", "x")
	mb, _ := b.watcher(t, "bob", "x", "y")
	waitReaders(t, a, "x", "x", "y")

	for i := range 30 {
		if err := b.hub.Say(mb, "y", chat.Say, fmt.Sprintf("early-%d", i)); err != nil {
			t.Fatalf("Say: %v", err)
		}
	}
	// Once bob's last message is stored, a's members can only learn of y
	// by joining it.
	waitHistory(t, b, "y", 30)
	seqs := b.history(t, "y")
	if got := a.history(t, "y"); len(got) != 0 {
		t.Errorf("node a, not in y, holds %d of its messages", len(got))
	}

	mc, tc := a.watcher(t, "cyd", "y")
	got := tc.all()
	var want []string
	want = append(want, "JOIN y cyd")
	for i := 10; i < 30; i++ {
		want = append(want, fmt.Sprintf("REPLAY y %d bob early-%d", seqs[i], i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("joining y, cyd was sent:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := b.hub.Say(mb, "y", chat.Say, "news"); err != nil {
		t.Fatalf("Say: %v", err)
	}
	waitHistory(t, b, "y", 31)
	tc.waitLine(t, fmt.Sprintf("MSG y %d bob news", b.history(t, "y")[30]))
	waitReaders(t, a, "x", "x", "y", "y")

	if err := a.hub.Part(mc, "y", ""); err != nil {
		t.Fatalf("Part: %v", err)
	}
	waitReaders(t, a, "x", "x", "y")

	// Back in y, cyd is replayed what was said while nobody on a was there.
	if err := b.hub.Say(mb, "y", chat.Say, "while away"); err != nil {
		t.Fatalf("Say: %v", err)
	}
	waitHistory(t, b, "y", 32)
	a.join(t, mc, "y")
	tc.waitLine(t, fmt.Sprintf("REPLAY y %d bob while away", b.history(t, "y")[31]))
}

// TestEventsAcrossNodes checks that joins, parts, renames, quits, topics
// and private messages reach the members of other nodes.
func TestEventsAcrossNodes(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	a := startNode(t, Options{URLs: []string{ns.ClientURL()}})
	b := startNode(t, Options{URLs: []string{ns.ClientURL()}})
	ma, ta := a.watcher(t, "ana", "lobby")
	mb, _ := b.watcher(t, "bob", "lobby")
	ta.waitLine(t, "JOIN lobby bob")

	if err := b.hub.SetTopic(mb, "lobby", "tea at five"); err != nil {
		t.Fatalf("SetTopic: %v", err)
	}
	ta.waitLine(t, "TOPIC lobby bob tea at five")

	// Who bob is, as node a learns it from the buckets.
	deadline := time.Now().Add(10 * time.Second)
	for {
		w, rooms, ok := a.hub.Remote("BOB")
		if ok && w == (chat.Who{Nick: "bob", Ident: "bob@test", Real: "bob"}) && slices.Equal(rooms, []string{"lobby"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Remote(BOB) = %+v, %v, %v; want bob in lobby", w, rooms, ok)
		}
		time.Sleep(10 * time.Millisecond) // polling the buckets' watches, an external state
	}
	if _, _, ok := a.hub.Remote("ana"); ok {
		t.Error("Remote(ana) found ana, a's own member, on another node")
	}

	// The room list counts every node's members.
	b.join(t, mb, "side")
	deadline = time.Now().Add(10 * time.Second)
	for {
		got := a.hub.Rooms()
		want := []chat.RoomInfo{{Name: "lobby", Members: 2, Topic: "tea at five"}, {Name: "side", Members: 1}}
		if slices.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node a lists rooms %+v, want %+v", got, want)
		}
		time.Sleep(10 * time.Millisecond) // polling presence, an external state
	}

	if _, err := b.hub.Tell(mb, "ANA", chat.Say, "psst"); err != nil {
		t.Fatalf("Tell to another node: %v", err)
	}
	ta.waitLine(t, "PRIV bob->ANA psst")
	if _, err := a.hub.Tell(ma, "nobody", chat.Say, "hello?"); !errors.Is(err, chat.ErrNoSuchNick) {
		t.Errorf("Tell to a nick no node holds = %v, want ErrNoSuchNick", err)
	}

	if err := rename(b.hub, mb, "bea"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	ta.waitLine(t, "RENAME bob bea")
	if err := b.hub.Part(mb, "lobby", "brb"); err != nil {
		t.Fatalf("Part: %v", err)
	}
	ta.waitLine(t, "PART lobby bea brb")
	b.join(t, mb, "lobby")
	b.hub.Quit(mb, "Quit: bye")
	ta.waitLine(t, "QUIT bea Quit: bye")

	// A node started later knows the topic from the bucket.
	c := startNode(t, Options{URLs: []string{ns.ClientURL()}})
	c.watcher(t, "cyd", "lobby")
	deadline = time.Now().Add(10 * time.Second)
	for {
		rooms := c.hub.Rooms()
		i := slices.IndexFunc(rooms, func(r chat.RoomInfo) bool { return r.Name == "lobby" })
		if i >= 0 && rooms[i].Topic == "tea at five" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the late node's rooms: %+v, want lobby's topic", rooms)
		}
		time.Sleep(20 * time.Millisecond) // polling the bucket's watch, an external state
	}
}

// TestFollowChurn: a member joins and leaves a busy room again and again;
// each join's replay is the room's latest messages as the stream has them,
// the node's readers do not pile up, and none is left once it is gone.
func TestFollowChurn(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	a := startNode(t, Options{URLs: []string{ns.ClientURL()}})
	b := startNode(t, Options{URLs: []string{ns.ClientURL()}})
	mb, _ := b.watcher(t, "bob", "y")
	stop := make(chan struct{})
	talked := make(chan int)
	go func() {
		n := 0
		defer func() { talked <- n }()
		for {
			select {
			case <-stop:
				if n >= 50 {
					return
				}
			default:
			}
			if err := b.hub.Say(mb, "y", chat.Say, fmt.Sprintf("m%d", n)); err == nil {
				n++
			}
			time.Sleep(time.Millisecond) // a steady talker, not synchronisation
		}
	}()
	mc, tc := a.watcher(t, "cyd")
	for range 30 {
		a.join(t, mc, "y")
		if err := a.hub.Part(mc, "y", ""); err != nil {
			t.Fatalf("Part: %v", err)
		}
	}
	close(stop)
	n := <-talked
	waitHistory(t, b, "y", min(n, 1000))
	a.join(t, mc, "y")
	// The last join's replay: what the stream holds last, in order.
	seqs := b.history(t, "y")
	var want []string
	for _, s := range seqs[len(seqs)-20:] {
		want = append(want, fmt.Sprint(s))
	}
	lines := tc.all()
	var got []string
	for _, l := range lines[len(lines)-20:] {
		f := strings.Fields(l)
		if f[0] != "REPLAY" {
			t.Fatalf("the last join ended with %q, not a replay:\n%s", l, strings.Join(lines[len(lines)-25:], "\n"))
		}
		got = append(got, f[2])
	}
	if !slices.Equal(got, want) {
		t.Errorf("replay seqs %v, want the stream's last %v", got, want)
	}
	waitReaders(t, a, "y", "y")
	if err := a.hub.Part(mc, "y", ""); err != nil {
		t.Fatalf("Part: %v", err)
	}
	waitReaders(t, a, "y")
}

// TestJoinTimesOut: while NATS does not answer, a join to a room the node
// does not read fails after the hub's JoinTimeout with ErrNotReady, and
// succeeds once NATS is back; rooms the node reads are joined at once.
func TestJoinTimesOut(t *testing.T) {
	ns := natstest.Server(t, t.TempDir(), -1, nil, nil, "")
	px := newProxy(t, strings.TrimPrefix(ns.ClientURL(), "nats://"))
	a := startNodeHub(t, Options{URLs: []string{px.url()}}, chat.Options{JoinTimeout: 300 * time.Millisecond})
	ma, _ := a.watcher(t, "ana", "lobby")
	mc, _ := a.watcher(t, "cyd")

	px.hold("never")
	answer := make(chan error, 1)
	err := a.hub.Join(ma, "cold", nil, func(err error) { answer <- err })
	if !errors.Is(err, chat.ErrPending) {
		t.Fatalf("Join of a room the node does not read = %v, want ErrPending", err)
	}
	select {
	case err := <-answer:
		if !errors.Is(err, chat.ErrNotReady) {
			t.Errorf("Join while NATS is held = %v, want ErrNotReady", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the join never timed out")
	}
	if err := a.hub.Join(mc, "lobby", nil, nil); err != nil {
		t.Errorf("Join of a room the node reads, while NATS is held = %v, want nil", err)
	}

	px.letGo()
	a.join(t, ma, "cold")
}
