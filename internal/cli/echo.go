package cli

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"time"

	"github.com/portside/portside/echo"
	"github.com/portside/portside/engine/fork"
	"github.com/portside/portside/server"
)

// echoConfig is what the echo flags say.
type echoConfig struct {
	listen   string
	lines    bool
	shell    bool
	idle     time.Duration
	maxConns int
	maxLine  int
	tls      tlsFlags
	prefix   string // of the flags' names
}

func (c *echoConfig) register(fs *flag.FlagSet, prefix, defaultAddr string) {
	c.prefix = prefix
	fs.StringVar(&c.listen, prefix+"listen", defaultAddr, "TCP and UDP `address` to listen on")
	fs.BoolVar(&c.lines, prefix+"lines", false, "echo whole lines instead of bytes as they come")
	fs.BoolVar(&c.shell, prefix+"shell", false, "speak the command shell: help, time, stats, quit")
	fs.DurationVar(&c.idle, prefix+"idle-timeout", 5*time.Minute, "close connections idle this long")
	fs.IntVar(&c.maxConns, prefix+"max-conns", server.DefaultMaxConns, "most connections at once")
	fs.IntVar(&c.maxLine, prefix+"max-line", 64<<10, "longest line, in bytes, in line and shell mode")
}

func runEcho(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	e.serverFlags(fs)
	var c echoConfig
	c.register(fs, "", "127.0.0.1:7007")
	c.tls.register(fs)
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	if c.lines && c.shell {
		return usagef("--lines and --shell exclude each other")
	}
	e.tlsEngine(c.tls.wanted())
	r, err := e.runner(ctx)
	if err != nil {
		return err
	}
	if err := startEcho(r, c); err != nil {
		r.stop()
		return err
	}
	if err := r.serveMetrics(); err != nil {
		r.stop()
		return err
	}
	return r.wait()
}

// startEcho starts the TCP and UDP echo services on c.listen.
func startEcho(r *runner, c echoConfig) error {
	mode := echo.Raw
	switch {
	case c.lines:
		mode = echo.Lines
	case c.shell:
		mode = echo.Shell
	}
	if c.tls.wanted() {
		// Before a certificate is made and logged for nothing.
		if err := r.need(&server.Service{Name: "echo", Stateless: true, TLS: &tls.Config{}}); err != nil {
			return err
		}
	}
	tcfg, err := c.tls.config(r)
	if err != nil {
		return err
	}
	st := new(server.Stats)
	h := echo.New(echo.Options{Mode: mode, MaxLine: c.maxLine, Logger: r.e.log.With("service", "echo"), Stats: st})
	s := &server.Service{
		Name:    "echo",
		Handler: h,
		// Echo keeps nothing between connections: fork may run it.
		Stateless: true,
		Stats:     st,
		TLS:       tcfg,
		Limits:    server.Limits{IdleTimeout: c.idle, MaxConns: c.maxConns, MaxInput: c.maxLine + 2},
	}
	addr, err := r.tcp(s, "--"+c.prefix+"listen", c.listen)
	if err != nil {
		return err
	}
	scheme := "tcp"
	if tcfg != nil {
		scheme = "tls"
	}
	r.announce("echo", fmt.Sprintf("%s://%s (%s mode, engine %s)", scheme, addr, mode, r.e.g.engine))
	if tcfg != nil || fork.IsChild() {
		return nil // a TLS port speaks no UDP; a fork child serves one TCP connection
	}
	// UDP on the same port number, as RFC 862 has it.
	pc, err := net.ListenPacket("udp", addr.String())
	if err != nil {
		return listenError("--"+c.prefix+"listen (UDP)", err)
	}
	ust := new(server.Stats)
	r.metrics.Add("echo-udp", "udp", ust)
	r.announce("echo", "udp://"+pc.LocalAddr().String())
	r.go_(func() error { return echo.ServeUDP(r.ctx, pc, ust) })
	return nil
}
