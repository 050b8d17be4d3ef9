// Package promstats exports portside's per-service counters
// (server.Stats) to Prometheus. It lives apart from package server so that
// the core, and every handler and engine built on it, needs nothing beyond
// the standard library: only a program that serves /metrics pays for the
// Prometheus client.
package promstats

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portside/portside/server"
)

// Collector exports the Stats of several services as Prometheus metrics,
// labelled by service and engine. It reads the counters at scrape time, so
// the hot path pays nothing for it.
type Collector struct {
	mu   sync.Mutex
	list []collected
}

type collected struct {
	service, engine string
	stats           *server.Stats
}

// Add registers one service's counters.
func (c *Collector) Add(service, engine string, st *server.Stats) {
	c.mu.Lock()
	c.list = append(c.list, collected{service, engine, st})
	c.mu.Unlock()
}

var labels = []string{"service", "engine"}

type metric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*server.Stats) int64
}

var metrics = []metric{
	{prometheus.NewDesc("portside_connections_open", "Connections open now.", labels, nil), prometheus.GaugeValue, func(s *server.Stats) int64 { return s.ConnsOpen.Load() }},
	{prometheus.NewDesc("portside_connections_total", "Connections accepted and served.", labels, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.ConnsTotal.Load() }},
	{prometheus.NewDesc("portside_connections_refused_total", "Connections turned away by a connection limit, or by an engine that cannot serve them (select above descriptor 1023).", labels, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.ConnsRefused.Load() }},
	{prometheus.NewDesc("portside_received_bytes_total", "Bytes read from peers.", labels, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.BytesIn.Load() }},
	{prometheus.NewDesc("portside_sent_bytes_total", "Bytes written to peers.", labels, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.BytesOut.Load() }},
	{prometheus.NewDesc("portside_handler_errors_total", "Connections closed by a protocol error.", labels, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.HandlerErrors.Load() }},
	{prometheus.NewDesc("portside_handler_panics_total", "Panics recovered from handler callbacks, each closing its connection.", labels, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.HandlerPanics.Load() }},
	{prometheus.NewDesc("portside_slow_consumers_total", "Connections closed for exceeding the send queue.", labels, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.SlowConsumers.Load() }},
	{prometheus.NewDesc("portside_input_overflows_total", "Connections closed for too much unconsumed input.", labels, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.InputOverflows.Load() }},
	{prometheus.NewDesc("portside_idle_timeouts_total", "Connections closed for being idle.", labels, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.IdleTimeouts.Load() }},
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range metrics {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.list {
		for _, m := range metrics {
			ch <- prometheus.MustNewConstMetric(m.desc, m.kind, float64(m.value(e.stats)), e.service, e.engine)
		}
	}
}
