package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"syscall"
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
	requests   requestsCollector // the HTTP services' responses
	// isolate keeps the others serving when one service fails (serve):
	// the failure is logged at once and reported when all have stopped.
	isolate bool
	wg      sync.WaitGroup
	mu      sync.Mutex
	errs    []error
	ctx     context.Context
	cancel  context.CancelFunc
	// banner is what announce said, printed by wait once every listener
	// is bound and every option checked: a command that fails to start
	// prints no line saying where it serves.
	banner []string
}

func (e *env) runner(ctx context.Context) (*runner, error) {
	if err := e.checkEngine(); err != nil {
		return nil, err
	}
	eng, err := engine.New(e.g.engine, engine.Options{Loops: e.g.loops, MaxChildren: e.g.maxChildren, Stderr: e.stderr})
	if err != nil {
		return nil, usageError{msg: err.Error()}
	}
	r := &runner{e: e, eng: eng}
	r.ctx, r.cancel = context.WithCancel(ctx)
	return r, nil
}

// announce notes where a service listens, for wait to print: one line
// each, on stdout, so scripts can read the address back when a port was 0.
func (r *runner) announce(service, what string) {
	if fork.IsChild() {
		return // the parent said it already
	}
	r.banner = append(r.banner, fmt.Sprintf("%-8s %s\n", service, what))
}

// need refuses, before anything is bound or announced, a service the
// engine cannot run, naming the engines that can.
func (r *runner) need(s *server.Service) error {
	n := engine.Needs{TLS: s.TLS != nil, SharedState: !s.Stateless}
	if engine.Can(r.e.g.engine, n) {
		return nil
	}
	why := "it keeps state shared between connections, which this engine cannot offer"
	if n.TLS && engine.Can(r.e.g.engine, engine.Needs{SharedState: n.SharedState}) {
		why = "this engine cannot serve TLS"
	}
	return conflictf("--engine %s cannot run %s: %s; use --engine %s",
		r.e.g.engine, s.Name, why, orList(engine.Able(n)))
}

// listenError names the flag whose address could not be bound, and what
// to do about it.
func listenError(flag string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s: %w; stop what holds it or give %s another address", flag, err, flag)
	}
	return fmt.Errorf("%s: %w", flag, err)
}

// tcp listens for s on addr and serves it in the background. A failure to
// listen is returned now; a failure later stops every service.
func (r *runner) tcp(s *server.Service, flag, addr string) (net.Addr, error) {
	s.Logger = r.e.log // the engine and the core name the service in each line
	s.Limits.DrainTimeout = r.e.g.drainTimeout
	if s.Stats == nil {
		s.Stats = new(server.Stats)
	}
	if err := r.need(s); err != nil {
		return nil, err
	}
	srv, err := engine.Start(r.ctx, engine.Config{Use: r.eng, Addr: addr, Service: s})
	if err != nil {
		return nil, listenError(flag, err)
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
	if len(r.requests.services) > 0 {
		reg.MustRegister(&r.requests)
	}
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
		return listenError("--metrics", err)
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
	for _, l := range r.banner {
		fmt.Fprint(r.e.stdout, l)
	}
	r.wg.Wait()
	r.cancel()
	return errors.Join(r.errs...)
}

// stop abandons a start-up half done.
func (r *runner) stop() {
	r.cancel()
	r.wg.Wait()
}
