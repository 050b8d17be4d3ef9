package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portside/portside/engine"
	"github.com/portside/portside/engine/fork"
	"github.com/portside/portside/server"
	"github.com/portside/portside/server/promstats"
)

// runner starts services on one engine and waits for them.
type runner struct {
	e       *env
	eng     server.Engine
	metrics promstats.Collector
	// collectors are other metrics, exported beside the services' Stats.
	collectors []prometheus.Collector
	// isolate keeps the others serving when one service fails (serve):
	// the failure is logged at once and reported when all have stopped.
	isolate bool
	wg      sync.WaitGroup
	mu      sync.Mutex
	errs    []error
	ctx     context.Context
	cancel  context.CancelFunc
}

func (e *env) runner(ctx context.Context) (*runner, error) {
	eng, err := engine.New(e.g.engine, engine.Options{Loops: e.g.loops, MaxChildren: e.g.maxChildren, Stderr: e.stderr})
	if err != nil {
		return nil, usageError{err.Error()}
	}
	r := &runner{e: e, eng: eng}
	r.ctx, r.cancel = context.WithCancel(ctx)
	return r, nil
}

// announce prints where a service listens: one line each, on stdout, so
// scripts can read the address back when a port was 0.
func (r *runner) announce(service, what string) {
	if fork.IsChild() {
		return // the parent said it already
	}
	fmt.Fprintf(r.e.stdout, "%-8s %s\n", service, what)
}

// tcp listens for s on addr and serves it in the background. A failure to
// listen is returned now; a failure later stops every service.
func (r *runner) tcp(s *server.Service, addr string) (net.Addr, error) {
	s.Logger = r.e.log // the engine and the core name the service in each line
	s.Limits.DrainTimeout = r.e.g.drainTimeout
	if s.Stats == nil {
		s.Stats = new(server.Stats)
	}
	srv, err := engine.Start(r.ctx, engine.Config{Use: r.eng, Addr: addr, Service: s})
	if err != nil {
		return nil, err
	}
	r.metrics.Add(s.Name, r.e.g.engine, s.Stats)
	r.go_(srv.Wait)
	return srv.Addr(), nil
}

// go_ runs f in the background. An error from it stops everything, unless
// the runner isolates its services: then it is logged, and the others go
// on serving.
func (r *runner) go_(f func() error) {
	r.wg.Go(func() {
		if err := f(); err != nil {
			r.mu.Lock()
			r.errs = append(r.errs, err)
			r.mu.Unlock()
			if r.isolate && r.ctx.Err() == nil {
				r.e.log.Error("service failed; the other services go on serving", "err", err)
				return
			}
			r.cancel()
		}
	})
}

// serveMetrics starts the Prometheus endpoint if --metrics was given.
func (r *runner) serveMetrics() error {
	if r.e.g.metrics == "" || fork.IsChild() {
		return nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.collectors...)
	reg.MustRegister(&r.metrics, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// Profiles beside the counters: measuring a server is half of what
	// portside is for, and the metrics port is already an operator's port.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", r.e.g.metrics)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	r.announce("metrics", "http://"+ln.Addr().String()+"/metrics")
	r.go_(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics: %w", err)
		}
		return nil
	})
	r.go_(func() error {
		<-r.ctx.Done()
		return srv.Close()
	})
	return nil
}

// wait blocks until every service has stopped, after ctx is cancelled or
// one of them failed (unless isolated), and returns the failures: a
// service that failed while the others served makes the command fail too
// once it is stopped.
func (r *runner) wait() error {
	r.wg.Wait()
	r.cancel()
	return errors.Join(r.errs...)
}

// stop abandons a start-up half done.
func (r *runner) stop() {
	r.cancel()
	r.wg.Wait()
}
