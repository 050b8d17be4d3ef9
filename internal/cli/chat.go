package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/chat/natsbus"
	"github.com/portside/portside/chat/store"
	"github.com/portside/portside/chat/web"
	"github.com/portside/portside/engine"
	"github.com/portside/portside/httpd"
	"github.com/portside/portside/server"
)

// chatConfig is what the chat flags say.
type chatConfig struct {
	listen       string
	data         string
	password     string
	motd         string
	maxConns     int
	sendQueue    int
	maxMessage   int
	maxMembers   int
	maxRooms     int
	maxTotal     int
	maxBytes     int64
	replay       int
	floodRate    float64
	floodBurst   int
	pingInterval time.Duration
	idle         time.Duration
	keep         int
	keepAge      time.Duration
	fsync        store.Sync
	window       time.Duration
	nats         listFlag
	natsReplicas int
	webOrigins   listFlag
	opers        listFlag // NAME:HASH
	prefix       string   // of the flags' names

	registerTimeout  time.Duration
	maxConnsIP       int
	exemptLoopback   bool
	passwordDelay    time.Duration
	passwordDelayMax time.Duration
}

func (c *chatConfig) register(fs *flag.FlagSet, prefix, defaultAddr string) {
	c.prefix = prefix
	fs.StringVar(&c.listen, prefix+"listen", defaultAddr, "TCP `address` for both the line protocol and IRC")
	fs.StringVar(&c.data, prefix+"data", "", "history `dir` (default $XDG_STATE_HOME/portside/chat or ~/.local/state/portside/chat; - keeps history in memory only)")
	fs.StringVar(&c.password, prefix+"password", "", "server `password` asked for by IRC's PASS and the line login")
	fs.StringVar(&c.motd, prefix+"motd", "", "`file` holding IRC's message of the day")
	fs.IntVar(&c.maxConns, prefix+"max-conns", server.DefaultMaxConns, "most connections at once")
	fs.IntVar(&c.maxConnsIP, prefix+"max-conns-per-ip", 16, "most connections at once from one address, over all doors; an IPv6 /64 is one address (0: no limit)")
	fs.BoolVar(&c.exemptLoopback, prefix+"per-ip-exempt-loopback", true, "do not hold loopback addresses to --"+prefix+"max-conns-per-ip")
	fs.DurationVar(&c.registerTimeout, prefix+"register-timeout", time.Minute, "close connections that have not logged in (a name, and the password if one is set) this long after connecting (0: never)")
	fs.DurationVar(&c.passwordDelay, prefix+"password-delay", time.Second, "after a wrong password, how long the next one from the same address waits; doubled after each further wrong one (0: no wait)")
	fs.DurationVar(&c.passwordDelayMax, prefix+"password-delay-max", 30*time.Second, "the longest wait --"+prefix+"password-delay grows to")
	fs.IntVar(&c.sendQueue, prefix+"send-queue", 1<<20, "`bytes` queued for one client before it is disconnected (send queue exceeded)")
	fs.IntVar(&c.maxMessage, prefix+"max-message", 400, "longest message, in `bytes`")
	fs.IntVar(&c.maxMembers, prefix+"max-room-members", 10000, "most members of one room")
	fs.IntVar(&c.maxRooms, prefix+"max-rooms", 20, "most rooms one client may be in")
	fs.IntVar(&c.maxTotal, prefix+"max-total-rooms", 1000, "most rooms on the server: a room without members gives way to a new one; with all in use, a join that would create one more is refused")
	fs.Int64Var(&c.maxBytes, prefix+"history-max-bytes", 256<<20, "history budget on disk, in `bytes`: the oldest messages, of any room, are deleted beyond it (negative: no budget)")
	fs.IntVar(&c.replay, prefix+"replay", 20, "messages replayed to whoever joins a room")
	fs.Float64Var(&c.floodRate, prefix+"flood-rate", 5, "lines per second a client may send, on average (0: no flood control)")
	fs.IntVar(&c.floodBurst, prefix+"flood-burst", 20, "lines a client may send at once before flood control drops them")
	fs.DurationVar(&c.pingInterval, prefix+"ping-interval", 2*time.Minute, "PING IRC clients silent this long; disconnect them after as long again")
	fs.DurationVar(&c.idle, prefix+"idle-timeout", 30*time.Minute, "disconnect line-protocol users who type nothing this long")
	fs.IntVar(&c.keep, prefix+"keep", 10000, "messages of each room kept in history (negative: all)")
	fs.DurationVar(&c.keepAge, prefix+"keep-age", 30*24*time.Hour, "how long history is kept (negative: forever)")
	fs.Var((*fsyncFlag)(&c.fsync), prefix+"fsync", "when history reaches the disk, `policy`: grouped (the default: fsynced in the background within 100 ms of a commit; power loss may take the last 100 ms or so of messages), always (fsynced before anyone is shown a message: power loss takes nothing shown), never (the OS writes it back in its own time: power loss may take the last half minute or so, and may corrupt the history). Under each, history survives the server being killed")
	fs.DurationVar(&c.window, prefix+"commit-window", 0, "how long a history commit waits for more messages to join it")
	fs.Var(&c.nats, prefix+"nats", "join the chat nodes of a NATS JetStream deployment at `URL` (repeatable); history is then kept in the stream, not under --"+prefix+"data")
	fs.IntVar(&c.natsReplicas, prefix+"nats-replicas", 1, "NATS servers that keep each message (3 on a three-server cluster)")
	fs.Var(&c.opers, prefix+"oper", "a server operator: `NAME:HASH`, HASH the bcrypt hash of its password, made by portside chat passwd (repeatable); IRC's OPER NAME PASSWORD, the line door's /oper, makes a client one")
	fs.Var(&c.webOrigins, prefix+"web-origin", "also let pages of `origin` (scheme://host[:port]) open the browser door's WebSocket (repeatable); by default only the chat's own page may")
}

// fsyncFlag is --fsync: a store.Sync by name.
type fsyncFlag store.Sync

func (f *fsyncFlag) String() string { return store.Sync(*f).String() }

func (f *fsyncFlag) Set(s string) error {
	y, err := store.ParseSync(s)
	if err != nil {
		return errors.New("want grouped, always or never")
	}
	*f = fsyncFlag(y)
	return nil
}

// writableDir makes dir if need be and checks that a file can be made in
// it. SQLite, asked to open a database where it cannot write, answers
// "out of memory (14)", which sends people looking in the wrong place.
func writableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot make the folder: %w", errors.Unwrap(err))
	}
	f, err := os.CreateTemp(dir, ".portside-write-check-*")
	if err != nil {
		return fmt.Errorf("cannot write in the folder: %w", errors.Unwrap(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// defaultDataDir is the per-user state folder for chat history.
func defaultDataDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "portside", "chat"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no --data given and no home directory: %w", err)
	}
	return filepath.Join(home, ".local", "state", "portside", "chat"), nil
}

func runChat(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "passwd" {
		e.cmd = passwdCommand
		return runChatPasswd(ctx, e, args[1:])
	}
	fs := e.flags()
	e.serverFlags(fs)
	var c chatConfig
	c.register(fs, "", "127.0.0.1:6667")
	webAddr := fs.String("web", "", "also serve the browser door (the page at /chat, its WebSocket at /chat/ws) on this HTTP `address`")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	if len(c.webOrigins) > 0 && *webAddr == "" {
		return usagef("--web-origin is for the browser door: it needs --web")
	}
	r, err := e.runner(ctx)
	if err != nil {
		return err
	}
	door, err := startChat(r, c)
	if err != nil {
		r.stop()
		return err
	}
	if *webAddr != "" {
		stop, err := startWeb(r, door, *webAddr)
		if err != nil {
			r.stop()
			return err
		}
		defer stop()
	}
	if err := r.serveMetrics(); err != nil {
		r.stop()
		return err
	}
	return r.wait()
}

// startWeb serves the browser door alone on addr: the page and its
// WebSocket, nothing else. The caller calls stop once the runner is done.
func startWeb(r *runner, door *web.Door, addr string) (stop func(), err error) {
	var rt httpd.Router
	door.Mount(&rt)
	reqs := new(httpd.Requests)
	r.requests.services = append(r.requests.services, namedRequests{"chat-web", reqs})
	h, err := httpd.New(httpd.Options{Routes: &rt, Requests: reqs, DrainTimeout: r.e.g.drainTimeout, Logger: r.e.log.With("service", "chat-web")})
	if err != nil {
		return nil, err
	}
	s := &server.Service{
		Name:    "chat-web",
		Handler: h,
		Limits:  server.Limits{IdleTimeout: 2 * time.Minute},
	}
	a, err := r.tcp(s, "--web", addr)
	if err != nil {
		h.Stop()
		return nil, err
	}
	r.announce("chat-web", fmt.Sprintf("http://%s (the browser door: the page at /chat, engine %s)", a, r.e.g.engine))
	return func() { h.Stop() }, nil
}

// startChat opens the history, starts the hub and serves the line and IRC
// doors on c.listen. It returns the browser door, for an HTTP service to
// mount. The hub outlives the listener: it keeps delivering what
// connections said while they drain, and stops once they are gone.
func startChat(r *runner, c chatConfig) (*web.Door, error) {
	if c.maxMessage <= 0 || c.sendQueue <= 0 || c.maxTotal <= 0 {
		p := "--" + c.prefix
		return nil, usagef("%smax-message, %ssend-queue and %smax-total-rooms must be positive", p, p, p)
	}
	for _, o := range c.webOrigins {
		if _, err := web.ParseOrigin(o); err != nil {
			return nil, usagef("--%sweb-origin: %v", c.prefix, strings.TrimPrefix(err.Error(), "chat/web: "))
		}
	}
	// Refused before the history is opened: chat's rooms are shared state.
	if err := r.need(&server.Service{Name: "chat"}); err != nil {
		return nil, err
	}
	opers, err := parseOpers(c.opers)
	if err != nil {
		return nil, usagef("--%soper: %v", c.prefix, err)
	}
	log := r.e.log.With("service", "chat")
	if r.e.g.engine == "iterative" {
		// Allowed, as the lesson the engine is for, but said: a second
		// user would otherwise wait at the name prompt with no clue why.
		log.Warn("the iterative engine serves one connection at a time: a second chat user waits, unanswered, until the first leaves; for a chat, use --engine " +
			orList(slices.DeleteFunc(engine.Able(engine.Needs{SharedState: true}), func(n string) bool { return n == "iterative" })))
	}
	var backend chat.Backend
	where := "history in memory"
	switch {
	case len(c.nats) > 0:
		octx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
		b, err := natsbus.Open(octx, natsbus.Options{
			URLs: c.nats, Replicas: c.natsReplicas, KeepCount: c.keep, KeepAge: c.keepAge,
			Cache: 1000, Logger: log,
		})
		cancel()
		if err != nil {
			return nil, err
		}
		backend = b
		where = "history in NATS stream CHAT"
	case c.data == "-":
		backend = chat.NewMemory(max(c.keep, 1000))
	default:
		dir := c.data
		if dir == "" {
			d, err := defaultDataDir()
			if err != nil {
				return nil, err
			}
			dir = d
		}
		if err := writableDir(dir); err != nil {
			return nil, conflictf("--%sdata %s: %v; give --%sdata a folder you can write, or --%sdata - to keep history in memory only",
				c.prefix, dir, err, c.prefix, c.prefix)
		}
		st, err := store.Open(dir, store.Options{KeepCount: c.keep, KeepAge: c.keepAge, Sync: c.fsync, Window: c.window, MaxBytes: c.maxBytes, Logger: log})
		if err != nil {
			return nil, err
		}
		r.collectors = append(r.collectors, historyCollector{st.Stats()}, commitCollector{st.Stats()})
		backend = st
		where = "history " + dir
	}
	closeBackend := func() {
		switch b := backend.(type) {
		case *store.Store:
			b.Close()
		case *natsbus.Bus:
			b.Close()
		}
	}
	var motd []string
	if c.motd != "" {
		b, err := os.ReadFile(c.motd)
		if err != nil {
			closeBackend()
			return nil, err
		}
		motd = strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	}
	replay := c.replay
	if replay <= 0 {
		replay = -1 // none; the hub's zero means its default
	}
	flood := c.floodRate
	if flood <= 0 {
		flood = -1
	}
	// The hub's zero values are its defaults; the flags' zero is "none".
	none := func(d time.Duration) time.Duration {
		if d <= 0 {
			return -1
		}
		return d
	}
	perIP := c.maxConnsIP
	if perIP <= 0 {
		perIP = -1
	}
	hst := new(chat.Stats)
	hub := chat.New(chat.Options{
		Backend: backend, Logger: log, Stats: hst, Password: c.password, MOTD: motd,
		MaxRoomMembers: c.maxMembers, MaxRooms: c.maxRooms, MaxTotalRooms: c.maxTotal, MaxMessage: c.maxMessage,
		Replay: replay, FloodRate: flood, FloodBurst: c.floodBurst,
		PingInterval: c.pingInterval, IdleTimeout: c.idle,
		RegisterTimeout: none(c.registerTimeout), MaxConnsPerIP: perIP, LimitLoopback: !c.exemptLoopback,
		PasswordDelay: none(c.passwordDelay), PasswordDelayMax: c.passwordDelayMax,
		Opers: opers,
	})
	if err := hub.Load(); err != nil {
		closeBackend()
		return nil, err
	}
	r.collectors = append(r.collectors, chatCollector{hub, hst})
	door := web.New(hub, web.Options{Origins: c.webOrigins}) // before Run: it adds a wire format
	st := new(server.Stats)
	s := &server.Service{
		Name:    "chat",
		Handler: hub.Handler(),
		Stats:   st,
		Logger:  r.e.log, // the engine and the core name the service
		Limits: server.Limits{
			MaxConns:     c.maxConns,
			MaxQueue:     c.sendQueue,
			HighWater:    min(server.DefaultHighWater, c.sendQueue/2),
			MaxInput:     16 << 10,
			IdleTimeout:  max(c.idle, 2*c.pingInterval) + time.Minute,
			DrainTimeout: r.e.g.drainTimeout,
		},
	}
	ln, err := server.Listen(r.ctx, r.eng, "tcp", c.listen, s.Name)
	if err != nil {
		closeBackend()
		return nil, listenError("--"+c.prefix+"listen", err)
	}
	r.metrics.Add(s.Name, r.e.g.engine, st)
	// The hub outlives the listener (it delivers what draining connections
	// said); a hub that fails stops chat's listener, and nothing else.
	hctx, hcancel := context.WithCancel(context.WithoutCancel(r.ctx))
	sctx, scancel := context.WithCancel(r.ctx)
	r.go_(func() error {
		defer scancel()
		if b, ok := backend.(*natsbus.Bus); ok {
			defer b.Close()
		}
		if err := hub.Run(hctx); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("chat: %w", err)
		}
		return nil
	})
	r.go_(func() error {
		defer hcancel()
		if err := r.eng.Serve(sctx, ln, s); err != nil {
			return fmt.Errorf("chat: %w", err)
		}
		return nil
	})
	r.announce("chat", fmt.Sprintf("tcp://%s (line protocol and IRC, engine %s, %s)", ln.Addr(), r.e.g.engine, where))
	return door, nil
}

// historyCollector exports the chat history's health as Prometheus metrics.
type historyCollector struct{ st *store.Stats }

var historyMetrics = []struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*store.Stats) int64
}{
	{prometheus.NewDesc("portside_chat_history_degraded", "1 while chat history cannot be written (disk full, I/O error) and messages are refused.", nil, nil), prometheus.GaugeValue, func(s *store.Stats) int64 { return s.Degraded.Load() }},
	{prometheus.NewDesc("portside_chat_messages_not_kept_total", "Chat messages refused, not kept and not shown, because history could not be written.", nil, nil), prometheus.CounterValue, func(s *store.Stats) int64 { return s.NotKept.Load() }},
	{prometheus.NewDesc("portside_chat_history_trimmed_total", "Chat messages deleted to keep history within --history-max-bytes.", nil, nil), prometheus.CounterValue, func(s *store.Stats) int64 { return s.Trimmed.Load() }},
	{prometheus.NewDesc("portside_chat_history_bytes", "Bytes chat history took at its last measure.", nil, nil), prometheus.GaugeValue, func(s *store.Stats) int64 { return s.Bytes.Load() }},
}

func (c historyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range historyMetrics {
		ch <- m.desc
	}
}

func (c historyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range historyMetrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, float64(m.value(c.st)))
	}
}

// parseOpers reads --oper NAME:HASH flags.
func parseOpers(flags []string) (map[string]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	opers := make(map[string]string, len(flags))
	for _, f := range flags {
		name, hash, ok := strings.Cut(f, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("%q: want NAME:HASH", f)
		}
		if err := chat.CheckOperHash(hash); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		if _, dup := opers[name]; dup {
			return nil, fmt.Errorf("%s is given twice", name)
		}
		opers[name] = hash
	}
	return opers, nil
}
