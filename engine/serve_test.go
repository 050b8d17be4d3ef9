package engine_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/server"
)

// hello greets and closes.
type hello struct{ server.Base }

func (hello) Open(c server.Conn)                    { c.WriteString("hello\n"); c.Close() }
func (hello) Data(server.Conn, []byte) (int, error) { return 0, nil }

// TestServe starts a service with one call under each in-process engine,
// talks to it over a socket, and stops it with the context.
func TestServe(t *testing.T) {
	for _, name := range engine.Names() {
		if name == "fork" {
			continue // its children are this program started again: see stream's tests
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			ready := make(chan net.Addr, 1)
			done := make(chan error, 1)
			go func() {
				done <- engine.Serve(ctx, engine.Config{
					Engine: name, Addr: "127.0.0.1:0",
					Service: &server.Service{Name: "hello", Handler: hello{}},
					Ready:   func(a net.Addr) { ready <- a },
				})
			}()
			var addr net.Addr
			select {
			case addr = <-ready:
			case err := <-done:
				t.Fatalf("Serve: %v", err)
			}
			nc, err := net.DialTimeout("tcp", addr.String(), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(30 * time.Second))
			if line, err := bufio.NewReader(nc).ReadString('\n'); line != "hello\n" {
				t.Fatalf("read %q, %v", line, err)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Serve after cancel: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Serve did not return after cancel")
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	ctx := t.Context()
	if _, err := engine.Start(ctx, engine.Config{Engine: "nope", Addr: "127.0.0.1:0", Service: &server.Service{Handler: hello{}}}); err == nil || !strings.Contains(err.Error(), "unknown engine") {
		t.Errorf("unknown engine: %v", err)
	}
	if _, err := engine.Start(ctx, engine.Config{Addr: "127.0.0.1:0"}); err == nil {
		t.Error("no service: no error")
	}
	if _, err := engine.Start(ctx, engine.Config{Addr: "256.0.0.1:0", Service: &server.Service{Handler: hello{}}}); err == nil {
		t.Error("bad address: no error")
	}
	// A service that is not Stateless is refused by fork, said by Wait.
	srv, err := engine.Start(ctx, engine.Config{Engine: "fork", Addr: "127.0.0.1:0", Service: &server.Service{Handler: hello{}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(); !errors.Is(err, server.ErrNoSharedState) {
		t.Errorf("fork, shared state: %v", err)
	}
}

// TestTLSDefault: a TLS service with no engine named gets one that can
// serve TLS, where the default engine would refuse it.
func TestTLSDefault(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := engine.Start(ctx, engine.Config{Addr: "127.0.0.1:0",
		Service: &server.Service{Handler: hello{}, TLS: &tls.Config{}}})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := srv.Wait(); err != nil {
		t.Errorf("TLS service under the default: %v", err)
	}
}
