// Package natstest runs real NATS servers, with JetStream, inside tests.
package natstest

import (
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server runs a NATS server with JetStream in-process, on a random
// port (or port, to restart one) with its store in dir.
func Server(t *testing.T, dir string, port int, cluster *server.ClusterOpts, routes []*url.URL, name string) *server.Server {
	t.Helper()
	o := &server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
		Routes:     routes,
	}
	if cluster != nil {
		o.Cluster = *cluster
	}
	ns, err := server.NewServer(o)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	if !o.NoLog {
		ns.ConfigureLogger()
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}
