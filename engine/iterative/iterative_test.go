package iterative

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portside/portside/server"
)

// handler is a Handler built from functions; nil ones do the obvious.
type handler struct {
	open   func(c server.Conn)
	data   func(c server.Conn, in []byte) (int, error)
	closed chan error // receives the reason given to Close
}

func newHandler() *handler { return &handler{closed: make(chan error, 16)} }

func (h *handler) Open(c server.Conn) {
	if h.open != nil {
		h.open(c)
	}
}

func (h *handler) Data(c server.Conn, in []byte) (int, error) {
	if h.data != nil {
		return h.data(c, in)
	}
	c.Write(in)
	return len(in), nil
}

func (h *handler) Close(c server.Conn, err error) { h.closed <- err }

// eofHandler answers a half-close with "bye:<rest>" and closes.
type eofHandler struct{ *handler }

func (h eofHandler) ReadEOF(c server.Conn, rest []byte) {
	c.Write([]byte("bye:"))
	c.Write(rest)
	c.Close()
}

// drainHandler says goodbye on shutdown, and closes unless told to hang.
type drainHandler struct {
	*handler
	hang bool
}

func (h drainHandler) Drain(c server.Conn) {
	c.Write([]byte("goodbye\n"))
	if !h.hang {
		c.Close()
	}
}

// lines consumes input up to its last newline, echoing it.
func lines(c server.Conn, in []byte) (int, error) {
	i := bytes.LastIndexByte(in, '\n')
	if i < 0 {
		return 0, nil
	}
	c.Write(in[:i+1])
	return i + 1, nil
}

type served struct {
	addr string
	stop context.CancelFunc
	done chan error // Serve's result
	svc  *server.Service
}

func serve(t *testing.T, h server.Handler, lim server.Limits) *served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	sv := &served{addr: ln.Addr().String(), stop: cancel, done: make(chan error, 1),
		svc: &server.Service{Name: "test", Handler: h, Limits: lim, Stats: new(server.Stats)}}
	go func() { sv.done <- new(Engine).Serve(ctx, ln, sv.svc) }()
	t.Cleanup(func() {
		cancel()
		if err := <-sv.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return sv
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c.(*net.TCPConn)
}

func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v (got %q)", n, err, b)
	}
	return string(b)
}

func closeReason(t *testing.T, h *handler) error {
	t.Helper()
	select {
	case err := <-h.closed:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("handler not closed")
		return nil
	}
}

func TestEcho(t *testing.T) {
	h := newHandler()
	sv := serve(t, h, server.Limits{})
	c := dial(t, sv.addr)
	want := 0
	for _, msg := range []string{"hello\n", "x", "a longer line with more bytes\n"} {
		want += len(msg)
		c.Write([]byte(msg))
		if got := readN(t, c, len(msg)); got != msg {
			t.Errorf("echo: got %q, want %q", got, msg)
		}
	}
	c.CloseWrite()
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Errorf("after half-close: got %q, %v; want EOF", b, err)
	}
	if err := closeReason(t, h); err != nil {
		t.Errorf("close reason: got %v, want nil", err)
	}
	if got := sv.svc.Stats.BytesIn.Load(); got != int64(want) {
		t.Errorf("BytesIn: got %d, want %d", got, want)
	}
}

// TestSecondClientWaits shows the engine's nature: a second client is
// connected by the kernel but not answered until the first one leaves.
func TestSecondClientWaits(t *testing.T) {
	h := newHandler()
	sv := serve(t, h, server.Limits{})
	a := dial(t, sv.addr)
	a.Write([]byte("a"))
	readN(t, a, 1)

	b := dial(t, sv.addr)
	b.Write([]byte("b"))
	b.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := b.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second client answered while the first is served: n=%d err=%v", n, err)
	}
	a.Close()
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got := readN(t, b, 1); got != "b" {
		t.Errorf("second client after the first left: got %q, want %q", got, "b")
	}
	if got := sv.svc.Stats.ConnsTotal.Load(); got != 2 {
		t.Errorf("ConnsTotal: got %d, want 2", got)
	}
}

func TestCloseReasons(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name   string
		lim    server.Limits
		data   func(c server.Conn, in []byte) (int, error)
		send   string
		want   error
		output string // read before EOF, if not empty
	}{
		{"handler error", server.Limits{}, func(c server.Conn, in []byte) (int, error) {
			c.Write([]byte("err\n"))
			return 0, errBoom
		}, "x", errBoom, "err\n"},
		{"input too large", server.Limits{MaxInput: 10}, lines, "0123456789abc", server.ErrInputTooLarge, ""},
		{"input within limit", server.Limits{MaxInput: 10}, func(c server.Conn, in []byte) (int, error) {
			n, _ := lines(c, in)
			if n > 0 {
				c.Close()
			}
			return n, nil
		}, "0123456789\n", nil, "0123456789\n"},
		{"idle", server.Limits{IdleTimeout: 50 * time.Millisecond}, nil, "", server.ErrIdleTimeout, ""},
		{"slow consumer", server.Limits{MaxQueue: 1 << 20, HighWater: 1 << 20}, func(c server.Conn, in []byte) (int, error) {
			// Far more than socket buffers hold, for a peer that never reads.
			big := make([]byte, 256<<10)
			for range 64 {
				if err := c.Write(big); err != nil {
					return len(in), nil
				}
			}
			return len(in), nil
		}, "go", server.ErrSlowConsumer, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler()
			h.data = tt.data
			sv := serve(t, h, tt.lim)
			c := dial(t, sv.addr)
			c.Write([]byte(tt.send))
			if tt.output != "" {
				if got := readN(t, c, len(tt.output)); got != tt.output {
					t.Errorf("output: got %q, want %q", got, tt.output)
				}
			}
			err := closeReason(t, h)
			if tt.want == nil && err != nil || !errors.Is(err, tt.want) {
				t.Errorf("close reason: got %v, want %v", err, tt.want)
			}
			if errors.Is(tt.want, errBoom) {
				if !errors.As(err, new(*server.HandlerError)) {
					t.Errorf("close reason %T, want *server.HandlerError", err)
				}
			}
		})
	}
}

func TestPartialInputKept(t *testing.T) {
	h := newHandler()
	h.data = lines
	sv := serve(t, h, server.Limits{})
	c := dial(t, sv.addr)
	c.Write([]byte("hel"))
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := c.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("partial line answered: n=%d err=%v", n, err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("lo\nwor"))
	if got := readN(t, c, 6); got != "hello\n" {
		t.Errorf("got %q, want %q", got, "hello\n")
	}
	c.Write([]byte("ld\n"))
	if got := readN(t, c, 6); got != "world\n" {
		t.Errorf("got %q, want %q", got, "world\n")
	}
}

func TestHalfClose(t *testing.T) {
	h := newHandler()
	h.data = lines
	sv := serve(t, eofHandler{h}, server.Limits{})
	c := dial(t, sv.addr)
	c.Write([]byte("one\ntail"))
	c.CloseWrite()
	b, err := io.ReadAll(c)
	if want := "one\nbye:tail"; string(b) != want || err != nil {
		t.Errorf("got %q, %v; want %q, EOF", b, err, want)
	}
	if err := closeReason(t, h); err != nil {
		t.Errorf("close reason: got %v, want nil", err)
	}
}

func TestWriteAfterClose(t *testing.T) {
	h := newHandler()
	conns := make(chan server.Conn, 1)
	h.open = func(c server.Conn) { conns <- c }
	sv := serve(t, h, server.Limits{})
	c := dial(t, sv.addr)
	sc := <-conns
	if err := sc.Write([]byte("from elsewhere\n")); err != nil {
		t.Fatalf("Write from another goroutine: %v", err)
	}
	if got := readN(t, c, 15); got != "from elsewhere\n" {
		t.Errorf("got %q", got)
	}
	c.Close()
	closeReason(t, h)
	if err := sc.Write([]byte("late")); !errors.Is(err, server.ErrClosed) {
		t.Errorf("Write after close: got %v, want %v", err, server.ErrClosed)
	}
}

func TestShutdown(t *testing.T) {
	tests := []struct {
		name string
		hang bool
		want error
	}{
		{"drained", false, nil},
		{"drain timeout", true, server.ErrShutdown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler()
			sv := serve(t, drainHandler{h, tt.hang}, server.Limits{DrainTimeout: 100 * time.Millisecond})
			c := dial(t, sv.addr)
			c.Write([]byte("hi"))
			readN(t, c, 2)
			sv.stop()
			if got := readN(t, c, 8); got != "goodbye\n" {
				t.Errorf("got %q, want goodbye", got)
			}
			if err := closeReason(t, h); !errors.Is(err, tt.want) || tt.want == nil && err != nil {
				t.Errorf("close reason: got %v, want %v", err, tt.want)
			}
			select {
			case err := <-sv.done:
				sv.done <- err // for the cleanup
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return after shutdown")
			}
			if _, err := net.Dial("tcp", sv.addr); err == nil {
				t.Error("listener still accepting after shutdown")
			}
		})
	}
}

// TestBackpressure checks that a peer that sends but does not read stops
// being read once HighWater bytes are queued, and is read again once it
// reads.
func TestBackpressure(t *testing.T) {
	const high = 1 << 20
	h := newHandler()
	calls := make(chan int, 100)
	var maxAtEntry atomic.Int64
	h.data = func(c server.Conn, in []byte) (int, error) {
		if q := int64(c.Queued()); q > maxAtEntry.Load() {
			maxAtEntry.Store(q)
		}
		c.Write(make([]byte, 512<<10))
		calls <- len(in)
		return len(in), nil
	}
	sv := serve(t, h, server.Limits{HighWater: high, MaxQueue: 64 << 20})
	c := dial(t, sv.addr)
	paused := false
	for i := range 200 {
		c.Write([]byte{byte(i)})
		select {
		case <-calls:
			continue
		case <-time.After(200 * time.Millisecond):
			paused = true
		}
		break
	}
	if !paused {
		t.Fatal("server kept reading from a peer that does not read")
	}
	go io.Copy(io.Discard, c)
	select {
	case <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("reading did not resume once the peer read")
	}
	if got := maxAtEntry.Load(); got > high {
		t.Errorf("Data called with %d bytes queued, above HighWater %d", got, high)
	}
}

func TestWriteFile(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(path, []byte("0123456789"), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			h := newHandler()
			h.open = func(c server.Conn) {
				c.Write([]byte("head:"))
				c.WriteFile(f, 2, 5)
				c.Write([]byte(":tail"))
				c.Close()
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			svc := &server.Service{Name: "test", Handler: h, Stats: new(server.Stats)}
			var cfg *tls.Config
			if useTLS {
				svc.TLS, cfg = tlsConfigs(t)
			}
			go new(Engine).Serve(t.Context(), ln, svc)
			d := &net.Dialer{Timeout: 10 * time.Second}
			var c net.Conn
			if useTLS {
				c, err = tls.DialWithDialer(d, "tcp", ln.Addr().String(), cfg)
			} else {
				c, err = d.Dial("tcp", ln.Addr().String())
			}
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			b, err := io.ReadAll(c)
			if want := "head:23456:tail"; string(b) != want || err != nil {
				t.Errorf("got %q, %v; want %q, EOF", b, err, want)
			}
			c.Close()
			closeReason(t, h)
			if _, err := f.Stat(); !errors.Is(err, os.ErrClosed) {
				t.Errorf("file after sending: Stat got %v, want %v (closed by the engine)", err, os.ErrClosed)
			}
		})
	}
}

// tlsConfigs returns a server config with a fresh self-signed certificate
// and a client config that trusts it.
func tlsConfigs(t *testing.T) (srv, cli *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}
