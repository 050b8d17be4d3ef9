// Package natsbus is a chat.Backend over NATS JetStream: several portside
// chat nodes share rooms, their order and their history through one stream.
//
// Each message said in a room is published to the stream, on a subject of
// its room. A node reads the rooms its members are in, each with a consumer
// of its own, and delivers what it reads in stream order, so every member
// on every node sees a room's messages in the same order, and a message is
// shown only once the stream has stored it. A message's Seq is its stream
// sequence: increasing within a room, with gaps where other rooms'
// messages fall.
//
// When a room gets its first member on a node, the node reads the room's
// messages the stream keeps, and the member's join completes once it has
// (chat.Follower): the replay on join and History come from there. When
// the room's last member leaves, the node stops reading it.
//
// Joins and parts go through the stream too, in order with the messages,
// but stay out of the history. Quits, renames and private messages go to
// the other nodes over plain NATS subjects: at most once, not kept, not in
// the stream's order. Topics are kept in a key-value bucket, so a node
// learns them when it starts.
//
// When the connection to NATS is down, Publish refuses new messages with
// ErrUnavailable; the messages it had already accepted (at most
// Options.MaxInFlight) are published again, with the same message ID so
// the stream keeps one copy, until they are stored. After a reconnect each
// room's consumer resumes after the last stream sequence it delivered:
// members see no gap and no duplicate.
package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/portside/portside/chat"
)

// Options configure a Bus. Zero values take the defaults noted.
type Options struct {
	// URLs are the NATS servers to connect to; the client fails over
	// between them. At least one is required.
	URLs []string
	// Stream is the JetStream stream's name; default "CHAT". Its subjects
	// are Subject and the room: "chat.room.lobby".
	Stream  string
	Subject string // default "chat.room."
	// Events prefixes the subjects of what is neither kept nor in a
	// room's order: quits and renames (Events+"user") and private
	// messages (Events+"node."+node). Default "chat.event.".
	Events string
	// Replicas is how many servers keep the stream; default 1. Use 3 on a
	// three-server cluster, so that the loss of one server loses nothing.
	Replicas int
	// KeepCount is how many messages of each room the stream keeps;
	// default 10,000; negative keeps all.
	KeepCount int
	// KeepAge is how long the stream keeps messages; default 30 days;
	// negative keeps them forever.
	KeepAge time.Duration
	// Cache is how many of each room's latest messages the node keeps in
	// memory to answer History; default 1,000. A room's first member on
	// the node makes it read all the stream keeps of the room (KeepCount).
	Cache int
	// MaxInFlight is how many messages may be published and not yet
	// delivered before Publish fails with chat.ErrBusy; default 10,000.
	MaxInFlight int
	// DrainTimeout bounds how long Run waits, when stopping, for the
	// messages it accepted to be stored and delivered; default 5 s.
	DrainTimeout time.Duration
	// PresenceTTL is how long a node's nicks outlive it, when it dies
	// without releasing them; default 30 s.
	PresenceTTL time.Duration
	Name        string       // the connection's name, for NATS monitoring; default "portside-chat"
	Logger      *slog.Logger // nil discards
}

// ErrUnavailable is Publish's error while the node cannot reach NATS: the
// message was not sent, and the sender is told so. It matches chat.ErrBusy.
var ErrUnavailable error = unavailable{"message not sent"}

// errNickUnchecked is ClaimNick's error while NATS cannot be reached.
var errNickUnchecked error = unavailable{"cannot check the nickname"}

type unavailable struct{ what string }

func (u unavailable) Error() string      { return "natsbus: cluster unreachable, " + u.what }
func (unavailable) Is(target error) bool { return target == chat.ErrBusy }

// Bus is the chat.Backend over JetStream.
type Bus struct {
	o      Options
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	node   string // this node's ID: prefix of its message IDs, origin of its events
	ids    atomic.Uint64
	again  atomic.Int64 // messages published again

	// stopCtx ends when reading stops, cutting short a resubscription.
	stopCtx  context.Context
	stopRead context.CancelFunc

	// deliver is the hub's, from Run.
	deliver atomic.Pointer[func([]*chat.Msg)]

	mu       sync.Mutex
	rooms    map[string]*room       // followed, or read until the node's own messages are back
	inflight map[string][]*chat.Msg // batches published by this node, by message ID, until delivered
	waiting  int                    // messages accepted and not yet delivered
	q        []*chat.Msg            // accepted, waiting for the publisher
	closed   bool
	stopped  bool // reading stopped for good
	wake     chan struct{}

	nicks    *nickRegistry
	presence *presence
	dir      *directory
	topics   jetstream.KeyValue
	topicsW  *kvWatch
	modes    jetstream.KeyValue // rooms' modes (modes.go)
	modesW   *kvWatch
	subs     []*nats.Subscription // events for this node
}

// room is what the node knows and reads of one room. Guarded by Bus.mu.
type room struct {
	name    string
	subject string
	cache   []*chat.Msg // the latest messages, oldest first
	lastSeq uint64      // the last stream sequence read

	wanted   bool                      // followed: the hub has members here
	caughtUp func(history []*chat.Msg) // set until the reader has caught up
	history  []histReq                 // History calls waiting for the catch-up
	inflight int                       // the node's own messages not yet back
	rd       *reader                   // nil when not reading
}

type histReq struct {
	before uint64
	n      int
	reply  func([]*chat.Msg, error)
}

// batch is messages of one room published as one stream message: stored
// all or none, in their order.
type batch struct {
	id   string
	msgs []*chat.Msg
}

// Batch bounds: a message's Seq is its stream message's sequence times
// seqSpan plus its place in the batch.
const (
	seqSpan  = 1024
	maxBatch = seqSpan
	maxBytes = 256 << 10
)

// wire is a message as stored in the stream, in a JSON array: a batch.
type wire struct {
	Time  int64  `json:"t"` // unix milliseconds
	Kind  uint8  `json:"k"`
	Nick  string `json:"n"`
	Ident string `json:"i,omitempty"`
	Text  string `json:"x"`
	// A kick's target, and the room's modes after a MODE or KICK.
	Target string          `json:"g,omitempty"`
	Modes  *chat.RoomModes `json:"md,omitempty"`
}

// Open connects to NATS and creates or updates the stream and the buckets.
// ctx bounds the connection and the setup.
func Open(ctx context.Context, o Options) (*Bus, error) {
	if len(o.URLs) == 0 {
		return nil, errors.New("natsbus: no NATS URL")
	}
	if o.Stream == "" {
		o.Stream = "CHAT"
	}
	if o.Subject == "" {
		o.Subject = "chat.room."
	}
	if o.Events == "" {
		o.Events = "chat.event."
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.KeepCount == 0 {
		o.KeepCount = 10000
	}
	if o.KeepAge == 0 {
		o.KeepAge = 30 * 24 * time.Hour
	}
	if o.Cache <= 0 {
		o.Cache = 1000
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 10000
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 5 * time.Second
	}
	if o.PresenceTTL <= 0 {
		o.PresenceTTL = 30 * time.Second
	}
	if o.Name == "" {
		o.Name = "portside-chat"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Bus{
		o:        o,
		node:     nuid.Next(),
		rooms:    make(map[string]*room),
		inflight: make(map[string][]*chat.Msg),
		wake:     make(chan struct{}, 1),
	}
	log := o.Logger
	nc, err := nats.Connect(strings.Join(o.URLs, ","),
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
			b.readAgain()
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect: %w", err)
	}
	b.nc = nc
	b.stopCtx, b.stopRead = context.WithCancel(context.Background())
	if err := b.setup(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return b, nil
}

func (b *Bus) setup(ctx context.Context) error {
	js, err := jetstream.New(b.nc, jetstream.WithPublishAsyncTimeout(2*time.Second))
	if err != nil {
		return fmt.Errorf("natsbus: %w", err)
	}
	b.js = js
	cfg := jetstream.StreamConfig{
		Name:              b.o.Stream,
		Subjects:          []string{b.o.Subject + ">"},
		Storage:           jetstream.FileStorage,
		Replicas:          b.o.Replicas,
		MaxMsgsPerSubject: int64(max(b.o.KeepCount, -1)),
		Discard:           jetstream.DiscardOld,
		Duplicates:        2 * time.Minute,
	}
	if b.o.KeepAge > 0 {
		cfg.MaxAge = b.o.KeepAge
	}
	st, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return fmt.Errorf("natsbus: stream %s: %w", b.o.Stream, err)
	}
	b.stream = st
	if err := b.openNicks(ctx); err != nil {
		return err
	}
	nw, err := newWatch(ctx, b.nicks.kv)
	if err != nil {
		return err
	}
	b.dir = newDirectory(nw, b.o.PresenceTTL)
	if err := b.openPresence(ctx); err != nil {
		return err
	}
	if err := b.openTopics(ctx); err != nil {
		return err
	}
	return b.openModes(ctx)
}

// bucket creates or updates the key-value bucket Stream_name, whose keys
// expire ttl after their last write (0: never).
func (b *Bus) bucket(ctx context.Context, name string, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   b.o.Stream + "_" + name,
		TTL:      ttl,
		Storage:  jetstream.FileStorage,
		Replicas: b.o.Replicas,
		History:  1,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: bucket %s_%s: %w", b.o.Stream, name, err)
	}
	return kv, nil
}

// Close closes the connection to NATS. Call it after Run has returned.
func (b *Bus) Close() {
	b.stopReading()
	b.nc.Close()
}

// roomToken maps a room to a subject token: '.' separates tokens, so it
// becomes '~', which no room name holds.
func roomToken(room string) string { return strings.ReplaceAll(room, ".", "~") }

// roomLocked returns the node's record of a room, making it. b.mu is held.
func (b *Bus) roomLocked(name string) *room {
	r := b.rooms[name]
	if r == nil {
		r = &room{name: name, subject: b.o.Subject + roomToken(name)}
		b.rooms[name] = r
	}
	return r
}

// Follow implements chat.Follower: it starts reading the room, unless the
// node still reads it.
func (b *Bus) Follow(name string, caughtUp func([]*chat.Msg)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.roomLocked(name)
	r.wanted = true
	if r.rd != nil && r.caughtUp == nil {
		// Still reading, for the node's own messages: it has all so far.
		caughtUp(slices.Clone(r.cache))
		return
	}
	r.caughtUp = caughtUp
	if r.rd == nil && !b.stopped {
		b.startLocked(r)
	}
}

// Unfollow implements chat.Follower: it stops reading the room once the
// node's own messages in it are back.
func (b *Bus) Unfollow(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rooms[name]
	if r == nil {
		return
	}
	r.wanted = false
	r.caughtUp = nil
	b.maybeStopLocked(r)
}

func (b *Bus) maybeStopLocked(r *room) {
	if r.wanted || r.inflight > 0 || r.rd == nil {
		return
	}
	r.rd.stop()
	r.rd = nil
	for _, h := range r.history {
		h.reply(nil, ErrUnavailable)
	}
	r.history = nil
}

// startLocked starts a reader of r. b.mu is held.
func (b *Bus) startLocked(r *room) {
	rd := &reader{b: b, r: r}
	r.rd = rd
	go rd.run(r.lastSeq)
}

// readAgain makes every reader start again from the last message it took,
// after the connection to NATS came back. A consumer does not resend what
// it sent towards the old connection (its acknowledgements are off), and
// in a cluster it may have sent messages there after the server the node
// was connected to had gone: a gap the reader notices only when a later
// message comes (next), and never if none does. jetstream's ordered
// consumer starts again on reconnect for the same reason.
func (b *Bus) readAgain() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.rooms {
		if r.rd != nil {
			r.rd.again()
		}
	}
}

// stopReading stops every reader, for good.
func (b *Bus) stopReading() {
	b.stopRead()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	for _, r := range b.rooms {
		if r.rd != nil {
			r.rd.stop()
			r.rd = nil
		}
	}
}

// reader reads one room from the stream, resubscribing after failures,
// until stopped.
type reader struct {
	b *Bus
	r *room

	// Owned by the reader's goroutine.
	consName string
	consSeq  uint64
	lastSeq  uint64 // the last stream sequence this reader took

	mu      sync.Mutex
	it      jetstream.MessagesContext
	stopped bool
}

func (rd *reader) stop() {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	rd.stopped = true
	if rd.it != nil {
		rd.it.Stop()
	}
}

// again ends the reader's current subscription, so that its loop
// subscribes again after the last message it took.
func (rd *reader) again() {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.it != nil {
		rd.it.Stop()
	}
}

func (rd *reader) isStopped() bool {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.stopped
}

// run catches up with the room from after lastSeq, then reads on.
func (rd *reader) run(lastSeq uint64) {
	b := rd.b
	rd.lastSeq = lastSeq
	defer func() {
		// An unused consumer would outlive the reader by its inactive
		// threshold: delete it now.
		if rd.consName != "" && !b.nc.IsClosed() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			b.stream.DeleteConsumer(ctx, rd.consName)
		}
	}()
	// The room's last sequence now: what is up to it is history.
	var until uint64
	for {
		ctx, cancel := context.WithTimeout(b.stopCtx, 5*time.Second)
		m, err := b.stream.GetLastMsgForSubject(ctx, rd.r.subject)
		cancel()
		if err == nil {
			until = m.Sequence
			break
		}
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if !rd.wait(err) {
			return
		}
	}
	b.mu.Lock()
	if until <= rd.lastSeq {
		b.caughtUpLocked(rd)
	}
	b.mu.Unlock()

	for !rd.subscribe() {
		if !rd.wait(errors.New("no consumer")) {
			return
		}
	}
	for {
		rd.mu.Lock()
		it := rd.it
		rd.mu.Unlock()
		m, meta, err := rd.next(it)
		if err != nil {
			if rd.isStopped() {
				return
			}
			b.o.Logger.Warn("natsbus: reading the room again", "room", rd.r.name, "after_seq", rd.lastSeq, "err", err)
			it.Stop()
			for !rd.subscribe() {
				if !rd.wait(err) {
					return
				}
			}
			continue
		}
		b.take(rd, m, meta.Sequence.Stream, until)
	}
}

// wait pauses before another try, and reports whether to go on.
func (rd *reader) wait(err error) bool {
	if rd.isStopped() || rd.b.nc.IsClosed() {
		return false
	}
	rd.b.o.Logger.Debug("natsbus: room not readable yet", "room", rd.r.name, "err", err)
	select {
	case <-time.After(100 * time.Millisecond): // NATS is away: do not spin
	case <-rd.b.stopCtx.Done():
		return false
	}
	return !rd.isStopped()
}

// subscribe (re)starts reading the room after the last sequence taken,
// with a consumer of its own: unacknowledged, in memory, deleted once
// unused.
func (rd *reader) subscribe() bool {
	b := rd.b
	cfg := jetstream.ConsumerConfig{
		Name:              "portside-" + nuid.Next(),
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     rd.r.subject,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: time.Minute,
	}
	if rd.lastSeq > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = rd.lastSeq + 1
	}
	ctx, cancel := context.WithTimeout(b.stopCtx, 5*time.Second)
	defer cancel()
	cons, err := b.stream.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return false
	}
	// A short heartbeat notices soon a consumer lost with its server.
	it, err := cons.Messages(jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second),
		jetstream.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		return false
	}
	if old := rd.consName; old != "" {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			b.stream.DeleteConsumer(ctx, old)
		}()
	}
	rd.consName, rd.consSeq = cfg.Name, 0
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.stopped {
		it.Stop()
		go b.stream.DeleteConsumer(context.Background(), cfg.Name)
		return true
	}
	rd.it = it
	return true
}

// errSkipped is next's error when the consumer skipped a message.
var errSkipped = errors.New("natsbus: consumer skipped a message")

// next returns the consumer's next message; one the consumer skipped (a
// gap in its own sequence) is an error, and the reader subscribes again.
func (rd *reader) next(it jetstream.MessagesContext) (jetstream.Msg, *jetstream.MsgMetadata, error) {
	if it == nil {
		return nil, nil, jetstream.ErrMsgIteratorClosed
	}
	m, err := it.Next()
	if err != nil {
		return nil, nil, err
	}
	meta, err := m.Metadata()
	if err != nil {
		return nil, nil, err
	}
	if meta.Sequence.Consumer != rd.consSeq+1 {
		return nil, nil, errSkipped
	}
	rd.consSeq = meta.Sequence.Consumer
	return m, meta, nil
}

// take hands a message read from the room, seq in the stream, to the hub:
// as history while the reader catches up (until is the room's last
// sequence when it started), as news after.
func (b *Bus) take(rd *reader, m jetstream.Msg, seq, until uint64) {
	if seq <= rd.lastSeq {
		return // a redelivery after a reset of the consumer
	}
	rd.lastSeq = seq
	id := m.Headers().Get(jetstream.MsgIDHeader)

	b.mu.Lock()
	defer b.mu.Unlock()
	r := rd.r
	if r.rd != rd {
		return // stopped: a later reader takes it from r.lastSeq
	}
	r.lastSeq = seq
	msgs, own := b.inflight[id]
	switch {
	case own:
		delete(b.inflight, id)
		r.inflight -= len(msgs)
		b.waiting -= len(msgs)
	case strings.HasPrefix(id, b.node+"-"):
		// Ours, delivered before: published again after its first copy
		// left the stream's duplicate window.
		return
	default:
		var ws []wire
		if err := json.Unmarshal(m.Data(), &ws); err != nil || len(ws) > maxBatch {
			b.o.Logger.Warn("natsbus: undecodable message", "seq", seq, "err", err)
			return
		}
		msgs = make([]*chat.Msg, len(ws))
		for i, w := range ws {
			msgs[i] = &chat.Msg{Room: r.name, Time: time.UnixMilli(w.Time).UTC(), Kind: chat.Kind(w.Kind), Nick: w.Nick, Ident: w.Ident, Text: w.Text, Target: w.Target, Modes: w.Modes}
		}
	}
	events := false
	for i, msg := range msgs {
		msg.Seq = seq*seqSpan + uint64(i)
		events = events || !msg.Kind.Kept()
	}
	if events {
		// Joins and parts, in order with the messages: kept out of the
		// history, and not shown again here, where they happened.
		var news []*chat.Msg
		for _, msg := range msgs {
			if msg.Kind.Kept() || !own {
				news = append(news, msg)
			}
		}
		msgs = news
	}
	if r.caughtUp != nil && seq > until {
		b.caughtUpLocked(rd)
	}
	for _, msg := range msgs {
		if msg.Kind.Kept() {
			b.rememberLocked(r, msg)
		}
	}
	switch {
	case r.caughtUp == nil:
		if d := b.deliver.Load(); d != nil && len(msgs) > 0 {
			(*d)(msgs)
		}
	case seq >= until:
		b.caughtUpLocked(rd)
	}
	b.maybeStopLocked(r)
}

// caughtUpLocked tells the hub the room's history is at hand, and answers
// the History calls that waited for it. b.mu is held.
func (b *Bus) caughtUpLocked(rd *reader) {
	r := rd.r
	if r.rd != rd || r.caughtUp == nil {
		return
	}
	r.caughtUp(slices.Clone(r.cache))
	r.caughtUp = nil
	for _, h := range r.history {
		h.reply(historyOf(r.cache, h.before, h.n), nil)
	}
	r.history = nil
}

// rememberLocked adds m to its room's cache. b.mu is held.
func (b *Bus) rememberLocked(r *room, m *chat.Msg) {
	if len(r.cache) == b.o.Cache {
		copy(r.cache, r.cache[1:])
		r.cache = r.cache[:len(r.cache)-1]
	}
	r.cache = append(r.cache, m)
}

func historyOf(msgs []*chat.Msg, before uint64, n int) []*chat.Msg {
	if before > 0 {
		i := len(msgs)
		for i > 0 && msgs[i-1].Seq >= before {
			i--
		}
		msgs = msgs[:i]
	}
	return slices.Clone(msgs[max(0, len(msgs)-n):])
}

// History implements chat.Backend from the latest messages of the room the
// node has read. While the node catches up with the room, the reply waits
// for it; a room the node does not read gets what it read before.
func (b *Bus) History(name string, before uint64, n int, reply func([]*chat.Msg, error)) {
	b.mu.Lock()
	r := b.rooms[name]
	if r != nil && r.caughtUp != nil && r.rd != nil {
		r.history = append(r.history, histReq{before, n, reply})
		b.mu.Unlock()
		return
	}
	var out []*chat.Msg
	if r != nil {
		out = historyOf(r.cache, before, n)
	}
	b.mu.Unlock()
	reply(out, nil)
}

// Publish implements chat.Backend. It fails with ErrUnavailable while NATS
// cannot be reached, chat.ErrBusy when MaxInFlight messages wait, and
// chat.ErrClosed once Run is stopping. Relay publishes joins and parts
// the same way, to keep them in order with the messages.
func (b *Bus) Publish(m *chat.Msg) error {
	if b.nc.Status() != nats.CONNECTED {
		return ErrUnavailable
	}
	b.mu.Lock()
	switch {
	case b.closed || b.stopped:
		b.mu.Unlock()
		return chat.ErrClosed
	case b.waiting >= b.o.MaxInFlight:
		b.mu.Unlock()
		return chat.ErrBusy
	}
	r := b.roomLocked(m.Room)
	if r.rd == nil {
		// Not followed (the sender just left): read the room until the
		// message is back, so that it is delivered and counted.
		b.startLocked(r)
	}
	r.inflight++
	b.waiting++
	b.q = append(b.q, m)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run implements chat.Backend: it publishes what Publish accepted, and the
// rooms' readers deliver what the stream holds, in stream order, until ctx
// is done; then it waits up to DrainTimeout for the accepted messages to
// come back.
func (b *Bus) Run(ctx context.Context, deliver func([]*chat.Msg)) error {
	b.deliver.Store(&deliver)
	if err := b.subscribeEvents(); err != nil {
		return err
	}
	stopPub := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		b.publisher(stopPub)
	}()
	defer b.releaseAll()
	rctx, rcancel := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() { b.presence.run(rctx) })
	bg.Go(func() { b.dir.run(rctx) })
	bg.Go(func() { b.watchTopics(rctx) })
	bg.Go(func() { b.watchModes(rctx) })
	defer func() {
		rcancel()
		bg.Wait()
	}()
	go b.nicks.refresher(rctx)

	<-ctx.Done()
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.drain()
	b.stopReading()
	for _, s := range b.subs {
		s.Unsubscribe()
	}
	close(stopPub)
	<-pubDone
	b.mu.Lock()
	lost := b.waiting
	b.mu.Unlock()
	if lost > 0 {
		b.o.Logger.Error("natsbus: messages not stored before shutdown", "count", lost)
	}
	return nil
}

// drain waits until every accepted message was delivered, or DrainTimeout
// passes.
func (b *Bus) drain() {
	deadline := time.NewTimer(b.o.DrainTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		b.mu.Lock()
		n := b.waiting
		b.mu.Unlock()
		if n == 0 || b.nc.IsClosed() {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return
		}
	}
}

// publisher publishes accepted messages in the order they were accepted,
// one batch at a time: the messages of one room that wait together go out
// as one stream message, and the next batch only once the stream has
// acknowledged the previous. With several in flight, a failed publish
// could be overtaken by a later one that succeeded, and its retry would
// then land after it, out of its sender's order; batching keeps a busy
// node's rate from being one message per round trip. A batch not
// acknowledged is published again under the same ID (the stream drops the
// copy if the first did arrive), before anything after it, until stop.
func (b *Bus) publisher(stop <-chan struct{}) {
	var (
		queue    []*chat.Msg // accepted, not yet in a batch, in order
		cur      *batch      // in flight, or to publish again
		inFlight jetstream.PubAckFuture
	)
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	retrying := false
	for {
		b.mu.Lock()
		queue = append(queue, b.q...)
		clear(b.q)
		b.q = b.q[:0]
		b.mu.Unlock()

		if inFlight != nil {
			select {
			case <-inFlight.Ok():
				inFlight, cur = nil, nil
			case err := <-inFlight.Err():
				b.o.Logger.Debug("natsbus: publish again", "id", cur.id, "err", err)
				b.again.Add(1)
				inFlight = nil
				retrying = true
				retry.Reset(100 * time.Millisecond)
			default:
			}
		}
		if inFlight == nil && !retrying {
			if cur == nil && len(queue) > 0 {
				cur, queue = b.nextBatch(queue)
			}
			if cur != nil {
				f, err := b.js.PublishMsgAsync(b.natsMsg(cur))
				if err != nil {
					b.again.Add(1)
					retrying = true
					retry.Reset(100 * time.Millisecond)
				} else {
					inFlight = f
					continue // it may be acknowledged at once
				}
			}
		}
		var ackWait <-chan struct{}
		if inFlight != nil {
			ackWait = b.js.PublishAsyncComplete()
		}
		select {
		case <-stop:
			return
		case <-b.wake:
		case <-ackWait:
		case <-retry.C:
			retrying = false
		}
	}
}

// nextBatch takes from queue the first message and those of its room that
// follow it, in their order, within the batch bounds.
func (b *Bus) nextBatch(queue []*chat.Msg) (*batch, []*chat.Msg) {
	room := queue[0].Room
	bt := &batch{id: b.node + "-" + strconv.FormatUint(b.ids.Add(1), 36)}
	rest := queue[:0]
	size := 0
	for _, m := range queue {
		if m.Room == room && len(bt.msgs) < maxBatch && size < maxBytes {
			bt.msgs = append(bt.msgs, m)
			size += len(m.Text) + len(m.Nick) + len(m.Ident) + 64
			continue
		}
		rest = append(rest, m)
	}
	clear(queue[len(rest):])
	b.mu.Lock()
	b.inflight[bt.id] = bt.msgs
	b.mu.Unlock()
	return bt, rest
}

func (b *Bus) natsMsg(bt *batch) *nats.Msg {
	ws := make([]wire, len(bt.msgs))
	for i, m := range bt.msgs {
		ws[i] = wire{Time: m.Time.UnixMilli(), Kind: uint8(m.Kind), Nick: m.Nick, Ident: m.Ident, Text: m.Text, Target: m.Target, Modes: m.Modes}
	}
	data, _ := json.Marshal(ws)
	msg := nats.NewMsg(b.o.Subject + roomToken(bt.msgs[0].Room))
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, bt.id)
	return msg
}
