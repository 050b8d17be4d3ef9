// Package echo is the echo service of RFC 862 over TCP and UDP, with the
// line and shell modes of the classic network-programming exercises.
//
// The TCP side is a server.Handler, so it runs under every engine: raw mode
// writes back each byte as it arrives; line mode writes back whole lines;
// shell mode speaks a small command protocol (help, time, stats, quit) and
// answers anything else with "Echo: <line>".
package echo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/portside/portside/proto/line"
	"github.com/portside/portside/server"
)

// Mode selects how the TCP service answers.
type Mode int

const (
	Raw   Mode = iota // bytes back exactly as received
	Lines             // each complete line back as received
	Shell             // the command protocol
)

// String names the mode as the command line does.
func (m Mode) String() string {
	switch m {
	case Lines:
		return "lines"
	case Shell:
		return "shell"
	}
	return "raw"
}

// Options configure a Handler. Zero values are usable.
type Options struct {
	Mode Mode
	// MaxLine bounds a line in line and shell mode; a longer one closes
	// the connection. Default 64 KiB.
	MaxLine int
	Logger  *slog.Logger     // nil discards
	Now     func() time.Time // nil: time.Now; tests pin it
	// Stats are the service's counters, for the shell's stats command.
	Stats *server.Stats
}

// Handler is the TCP echo service.
type Handler struct {
	o Options
}

// New returns a Handler.
func New(o Options) *Handler {
	if o.MaxLine <= 0 {
		o.MaxLine = 64 << 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Stats == nil {
		o.Stats = new(server.Stats)
	}
	return &Handler{o: o}
}

// session is one connection's statistics.
type session struct {
	start         time.Time
	in, out, msgs int64
}

// ErrLineTooLong closes a connection that sent a line over the limit.
var ErrLineTooLong = errors.New("echo: line too long")

const banner = "Welcome to the portside echo shell. Type 'help' for commands.\r\n"

const help = "Commands:\r\n" +
	"  help   this list\r\n" +
	"  time   the server's time\r\n" +
	"  stats  this connection's and the server's counters\r\n" +
	"  quit   close the connection\r\n" +
	"Anything else is echoed back.\r\n"

// Open implements server.Handler.
func (h *Handler) Open(c server.Conn) {
	s := &session{start: h.o.Now()}
	c.SetValue(s)
	if h.o.Mode == Shell {
		h.write(c, s, banner)
	}
}

func (h *Handler) write(c server.Conn, s *session, msg string) {
	s.out += int64(len(msg))
	c.Write([]byte(msg))
}

// Data implements server.Handler.
func (h *Handler) Data(c server.Conn, in []byte) (int, error) {
	s := c.Value().(*session)
	if h.o.Mode == Raw {
		c.Write(in)
		s.in += int64(len(in))
		s.out += int64(len(in))
		s.msgs++
		return len(in), nil
	}
	sc := line.NewScanner(in, h.o.MaxLine)
	for prev := 0; sc.Scan(); prev = sc.Used {
		s.msgs++
		s.in += int64(sc.Used - prev)
		if h.o.Mode == Lines {
			raw := in[prev:sc.Used] // as received, terminator and all
			c.Write(raw)
			s.out += int64(len(raw))
			continue
		}
		if h.command(c, s, string(sc.Line())) {
			break
		}
	}
	if sc.Err() != nil {
		return sc.Used, fmt.Errorf("%w (over %d bytes)", ErrLineTooLong, h.o.MaxLine)
	}
	return sc.Used, nil
}

// command runs one shell line and reports whether the connection is done.
func (h *Handler) command(c server.Conn, s *session, cmd string) bool {
	switch strings.TrimSpace(cmd) {
	case "help":
		h.write(c, s, help)
	case "time":
		h.write(c, s, h.o.Now().Format(time.RFC3339)+"\r\n")
	case "stats":
		st := h.o.Stats
		h.write(c, s, fmt.Sprintf("connection: %d bytes in, %d bytes out, %d messages, up %s\r\n",
			s.in, s.out, s.msgs, h.o.Now().Sub(s.start).Round(time.Millisecond)))
		h.write(c, s, fmt.Sprintf("server: %d open, %d served, %d bytes in, %d bytes out\r\n",
			st.ConnsOpen.Load(), st.ConnsTotal.Load(), st.BytesIn.Load(), st.BytesOut.Load()))
	case "quit", "exit":
		h.write(c, s, "Bye.\r\n")
		c.Close()
		return true
	default:
		h.write(c, s, "Echo: "+cmd+"\r\n")
	}
	return false
}

// Close implements server.Handler: it logs the connection's statistics.
func (h *Handler) Close(c server.Conn, err error) {
	s, _ := c.Value().(*session)
	if s == nil {
		return
	}
	h.o.Logger.Info("echo session", "conn_id", c.ID(), "remote_addr", addr(c.RemoteAddr()),
		"mode", h.o.Mode.String(), "bytes_in", s.in, "bytes_out", s.out, "messages", s.msgs,
		"duration", h.o.Now().Sub(s.start).Round(time.Millisecond).String(), "reason", reason(err))
}

// addr names a peer for the log. Engines give a placeholder for an address
// they could not learn, but a handler must not crash on one that did not.
func addr(a net.Addr) string {
	if a == nil {
		return "unknown"
	}
	return a.String()
}

func reason(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}

// Refuse implements server.Refuser: only the shell has words for it; raw
// and line echo must not send anything their peer did not.
func (h *Handler) Refuse(why error) []byte {
	if h.o.Mode != Shell {
		return nil
	}
	return []byte("Sorry, the server is busy (" + why.Error() + "). Try again later.\r\n")
}

// Drain implements server.Drainer: the shell says goodbye.
func (h *Handler) Drain(c server.Conn) {
	if h.o.Mode == Shell {
		c.Write([]byte("Server shutting down. Bye.\r\n"))
	}
	c.Close()
}

// ServeUDP answers each datagram on pc with one datagram holding the same
// bytes, until ctx is cancelled; then it closes pc and returns nil. Traffic
// is counted in st (BytesIn/BytesOut), if not nil.
func ServeUDP(ctx context.Context, pc net.PacketConn, st *server.Stats) error {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	buf := make([]byte, 64<<10)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			continue // ICMP errors from earlier sends surface here
		}
		if st != nil {
			st.BytesIn.Add(int64(n))
		}
		if _, err := pc.WriteTo(buf[:n], addr); err == nil && st != nil {
			st.BytesOut.Add(int64(n))
		}
	}
}

var (
	_ server.Refuser = (*Handler)(nil)
	_ server.Drainer = (*Handler)(nil)
)
