// Package natsbus is a chat.Backend over NATS JetStream: several portside
// chat nodes share rooms, their order and their history through one stream.
//
// Each message said in a room is published to the stream, on a subject of
// its room. Every node reads the stream with a consumer of its own and
// delivers what it reads in stream order, so every member on every node
// sees a room's messages in the same order, and a message is shown only
// once the stream has stored it. A message's Seq is its stream sequence:
// increasing within a room, with gaps where other rooms' messages fall.
//
// History (replay on join, /history, CHATHISTORY) is served from the latest
// messages of each room that the node has read from the stream; at start a
// node reads the stream from its beginning to fill them.
//
// When the connection to NATS is down, Publish refuses new messages with
// ErrUnavailable; the messages it had already accepted (at most
// Options.MaxInFlight) are published again, with the same message ID so
// the stream keeps one copy, until they are stored. After a reconnect the
// consumer resumes after the last stream sequence it delivered: members see
// no gap and no duplicate.
package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	// memory to answer History; default 1,000.
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
	node   string // prefix of this node's message IDs
	ids    atomic.Uint64
	again  atomic.Int64 // messages published again

	// it reads the stream; the reader replaces it when it fails. itMu
	// guards the swap against Run stopping it.
	itMu    sync.Mutex
	it      jetstream.MessagesContext
	stopped bool
	// stopCtx ends when reading stops, cutting short a resubscription.
	stopCtx  context.Context
	stopRead context.CancelFunc

	// lastSeq is the last stream sequence delivered (or loaded); owned by
	// the reader.
	lastSeq uint64
	// consName and consSeq are the current consumer's, owned likewise.
	consName string
	consSeq  uint64

	mu       sync.Mutex
	cache    map[string][]*chat.Msg // each room's latest messages, oldest first
	inflight map[string]*chat.Msg   // published by this node, by message ID, until delivered
	q        []outgoing             // accepted, waiting for the publisher
	closed   bool
	wake     chan struct{}

	nicks    *nickRegistry
	presence *presence
}

type outgoing struct {
	id string
	m  *chat.Msg
}

// wire is a message as stored in the stream.
type wire struct {
	Time  int64  `json:"t"` // unix milliseconds
	Kind  uint8  `json:"k"`
	Nick  string `json:"n"`
	Ident string `json:"i,omitempty"`
	Text  string `json:"x"`
}

// Open connects to NATS, creates or updates the stream, and reads what the
// stream holds to fill the history cache. ctx bounds the connection and
// the read.
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
		cache:    make(map[string][]*chat.Msg),
		inflight: make(map[string]*chat.Msg),
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
	if err := b.openPresence(ctx); err != nil {
		return err
	}
	if err := b.subscribe(ctx); err != nil {
		return err
	}
	if st.CachedInfo().State.Msgs == 0 {
		return nil
	}
	// Read what the stream holds now; the iterator cannot watch ctx, so
	// ctx stops it.
	it := b.it
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		m, err := b.next(it)
		if err != nil {
			it.Stop()
			return fmt.Errorf("natsbus: reading history: %w", err)
		}
		msg, left := b.decode(m)
		if msg != nil {
			b.remember(msg)
		}
		if left == 0 {
			return nil
		}
	}
}

// subscribe (re)starts reading the stream after the last sequence read,
// with a consumer of its own: unacknowledged, in memory, deleted once
// unused. The reader calls it again whenever reading fails or skips.
func (b *Bus) subscribe(ctx context.Context) error {
	cfg := jetstream.ConsumerConfig{
		Name:              "portside-" + nuid.Next(),
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     b.o.Subject + ">",
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: time.Minute,
	}
	if b.lastSeq > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = b.lastSeq + 1
	}
	cons, err := b.stream.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("natsbus: consumer: %w", err)
	}
	// A short heartbeat notices soon a consumer lost with its server.
	it, err := cons.Messages(jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second),
		jetstream.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		return fmt.Errorf("natsbus: consumer: %w", err)
	}
	if old := b.consName; old != "" {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			b.stream.DeleteConsumer(ctx, old)
		}()
	}
	b.consName, b.consSeq = cfg.Name, 0
	b.itMu.Lock()
	defer b.itMu.Unlock()
	if b.stopped {
		it.Stop()
		return jetstream.ErrMsgIteratorClosed
	}
	b.it = it
	return nil
}

// errSkipped is next's error when the consumer skipped a message.
var errSkipped = errors.New("natsbus: consumer skipped a message")

// next returns the consumer's next message; one the consumer skipped (a
// gap in its own sequence) is an error, and the reader subscribes again.
func (b *Bus) next(it jetstream.MessagesContext) (jetstream.Msg, error) {
	m, err := it.Next()
	if err != nil {
		return nil, err
	}
	meta, err := m.Metadata()
	if err != nil {
		return nil, err
	}
	if meta.Sequence.Consumer != b.consSeq+1 {
		return nil, errSkipped
	}
	b.consSeq = meta.Sequence.Consumer
	return m, nil
}

// stopReading stops the reader, for good.
func (b *Bus) stopReading() {
	b.stopRead()
	b.itMu.Lock()
	defer b.itMu.Unlock()
	b.stopped = true
	if b.it != nil {
		b.it.Stop()
	}
}

// Close closes the connection to NATS. Call it after Run has returned.
func (b *Bus) Close() {
	b.stopReading()
	b.nc.Close()
}

// roomSubject maps a room to its subject: '.' separates subject tokens, so
// it becomes '~', which no room name holds.
func (b *Bus) roomSubject(room string) string {
	return b.o.Subject + strings.ReplaceAll(room, ".", "~")
}

// decode turns a stream message into a chat.Msg with its Seq, or nil if it
// was delivered before or is not one of ours. A message this node published
// comes back as the very Msg handed to Publish, which the hub recognises.
func (b *Bus) decode(m jetstream.Msg) (msg *chat.Msg, left uint64) {
	meta, err := m.Metadata()
	if err != nil {
		return nil, 1
	}
	seq := meta.Sequence.Stream
	if seq <= b.lastSeq {
		return nil, meta.NumPending // a redelivery after a reset of the consumer
	}
	b.lastSeq = seq
	room, ok := strings.CutPrefix(m.Subject(), b.o.Subject)
	if !ok {
		return nil, meta.NumPending
	}
	room = strings.ReplaceAll(room, "~", ".")
	id := m.Headers().Get(jetstream.MsgIDHeader)
	b.mu.Lock()
	msg = b.inflight[id]
	delete(b.inflight, id)
	b.mu.Unlock()
	if msg == nil && strings.HasPrefix(id, b.node+"-") {
		// Ours, delivered before: published again after its first copy
		// left the stream's duplicate window.
		return nil, meta.NumPending
	}
	if msg == nil {
		var w wire
		if err := json.Unmarshal(m.Data(), &w); err != nil {
			b.o.Logger.Warn("natsbus: undecodable message", "seq", seq, "err", err)
			return nil, meta.NumPending
		}
		msg = &chat.Msg{Room: room, Time: time.UnixMilli(w.Time).UTC(), Kind: chat.Kind(w.Kind), Nick: w.Nick, Ident: w.Ident, Text: w.Text}
	}
	msg.Seq = seq
	return msg, meta.NumPending
}

// remember adds m to its room's cache.
func (b *Bus) remember(m *chat.Msg) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.cache[m.Room]
	if len(c) == b.o.Cache {
		copy(c, c[1:])
		c = c[:len(c)-1]
	}
	b.cache[m.Room] = append(c, m)
}

// Latest implements chat.Loader from the cache filled at Open.
func (b *Bus) Latest(perRoom int) ([]*chat.Msg, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*chat.Msg
	for _, c := range b.cache {
		out = append(out, c[max(0, len(c)-perRoom):]...)
	}
	return out, nil
}

// History implements chat.Backend from the cache of each room's latest
// messages; it replies before returning.
func (b *Bus) History(room string, before uint64, n int, reply func([]*chat.Msg, error)) {
	b.mu.Lock()
	msgs := b.cache[room]
	if before > 0 {
		i := len(msgs)
		for i > 0 && msgs[i-1].Seq >= before {
			i--
		}
		msgs = msgs[:i]
	}
	out := append([]*chat.Msg(nil), msgs[max(0, len(msgs)-n):]...)
	b.mu.Unlock()
	reply(out, nil)
}

// Publish implements chat.Backend. It fails with ErrUnavailable while NATS
// cannot be reached, chat.ErrBusy when MaxInFlight messages wait, and
// chat.ErrClosed once Run is stopping.
func (b *Bus) Publish(m *chat.Msg) error {
	if b.nc.Status() != nats.CONNECTED {
		return ErrUnavailable
	}
	id := b.node + "-" + strconv.FormatUint(b.ids.Add(1), 36)
	b.mu.Lock()
	switch {
	case b.closed:
		b.mu.Unlock()
		return chat.ErrClosed
	case len(b.inflight) >= b.o.MaxInFlight:
		b.mu.Unlock()
		return chat.ErrBusy
	}
	b.inflight[id] = m
	b.q = append(b.q, outgoing{id, m})
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run implements chat.Backend: it publishes what Publish accepted and
// delivers what the stream holds, in stream order, until ctx is done; then
// it waits up to DrainTimeout for the accepted messages to come back.
func (b *Bus) Run(ctx context.Context, deliver func([]*chat.Msg)) error {
	stopPub := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		b.publisher(stopPub)
	}()
	readDone := make(chan error, 1)
	go func() { readDone <- b.reader(deliver) }()
	defer b.releaseAll()
	rctx, rcancel := context.WithCancel(ctx)
	presDone := make(chan struct{})
	go func() {
		defer close(presDone)
		b.presence.run(rctx)
	}()
	defer func() {
		rcancel()
		<-presDone
	}()
	go b.nicks.refresher(rctx)

	var err error
	select {
	case <-ctx.Done():
	case err = <-readDone:
		readDone <- err
	}
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	if err == nil {
		b.drain(readDone)
	}
	b.stopReading()
	close(stopPub)
	<-pubDone
	if err == nil {
		err = <-readDone
	}
	if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
		err = nil
	}
	b.mu.Lock()
	lost := len(b.inflight)
	b.mu.Unlock()
	if lost > 0 {
		b.o.Logger.Error("natsbus: messages not stored before shutdown", "count", lost)
	}
	return err
}

// drain waits until every accepted message was delivered, DrainTimeout
// passes or the reader fails.
func (b *Bus) drain(readDone chan error) {
	deadline := time.NewTimer(b.o.DrainTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		b.mu.Lock()
		n := len(b.inflight)
		b.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return
		case err := <-readDone:
			readDone <- err
			return
		}
	}
}

// reader delivers the stream's messages in order, resubscribing after
// failures until stopped.
func (b *Bus) reader(deliver func([]*chat.Msg)) error {
	b.itMu.Lock()
	it := b.it
	b.itMu.Unlock()
	for {
		m, err := b.next(it)
		if err != nil {
			b.itMu.Lock()
			stopped := b.stopped
			b.itMu.Unlock()
			if stopped {
				return nil
			}
			b.o.Logger.Warn("natsbus: reading the stream again", "after_seq", b.lastSeq, "err", err)
			it.Stop()
			for {
				ctx, cancel := context.WithTimeout(b.stopCtx, 5*time.Second)
				err = b.subscribe(ctx)
				cancel()
				if err == nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					break
				}
				if b.nc.IsClosed() {
					return fmt.Errorf("natsbus: %w", nats.ErrConnectionClosed)
				}
				b.itMu.Lock()
				stopped := b.stopped
				b.itMu.Unlock()
				if stopped {
					return nil
				}
				// NATS is away: try again soon, but do not spin.
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				return nil
			}
			b.itMu.Lock()
			it = b.it
			b.itMu.Unlock()
			continue
		}
		if msg, _ := b.decode(m); msg != nil {
			b.remember(msg)
			deliver([]*chat.Msg{msg})
		}
	}
}

// publisher publishes accepted messages in the order they were accepted,
// one at a time: the next goes out only once the stream has acknowledged
// the previous. With several in flight, a failed publish could be overtaken
// by a later one that succeeded, and its retry would then land after it,
// out of its sender's order. A message not acknowledged is published again
// under the same ID (the stream drops the copy if the first did arrive),
// before anything after it, until stop.
func (b *Bus) publisher(stop <-chan struct{}) {
	var (
		queue    []outgoing // accepted, not yet stored, in order
		inFlight jetstream.PubAckFuture
		current  outgoing
	)
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	retrying := false
	for {
		b.mu.Lock()
		queue = append(queue, b.q...)
		b.q = b.q[:0]
		b.mu.Unlock()

		if inFlight != nil {
			select {
			case <-inFlight.Ok():
				inFlight = nil
			case err := <-inFlight.Err():
				b.o.Logger.Debug("natsbus: publish again", "id", current.id, "err", err)
				b.again.Add(1)
				queue = append([]outgoing{current}, queue...)
				inFlight = nil
				retrying = true
				retry.Reset(100 * time.Millisecond)
			default:
			}
		}
		if inFlight == nil && len(queue) > 0 && !retrying {
			o := queue[0]
			f, err := b.js.PublishMsgAsync(b.natsMsg(o))
			if err != nil {
				b.again.Add(1)
				retrying = true
				retry.Reset(100 * time.Millisecond)
			} else {
				queue = queue[1:]
				current, inFlight = o, f
				continue // it may be acknowledged at once
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

func (b *Bus) natsMsg(o outgoing) *nats.Msg {
	m := o.m
	data, _ := json.Marshal(wire{Time: m.Time.UnixMilli(), Kind: uint8(m.Kind), Nick: m.Nick, Ident: m.Ident, Text: m.Text})
	msg := nats.NewMsg(b.roomSubject(m.Room))
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, o.id)
	return msg
}
