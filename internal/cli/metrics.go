package cli

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/portside/portside/chat"
	"github.com/portside/portside/chat/store"
	"github.com/portside/portside/httpd"
)

// The metrics of the servers themselves, beside each service's
// server.Stats (server/promstats); docs/metrics.md lists them all.

// requestsCollector exports the HTTP services' responses by method and
// status class.
type requestsCollector struct {
	services []namedRequests
}

type namedRequests struct {
	name string
	r    *httpd.Requests
}

var httpRequestsDesc = prometheus.NewDesc("portside_http_requests_total",
	"HTTP responses sent, by service, request method (GET, HEAD, POST, PUT, OPTIONS, DELETE or other) and status class (2xx).",
	[]string{"service", "method", "class"}, nil)

func (c *requestsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- httpRequestsDesc }

func (c *requestsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.services {
		s.r.Each(func(method, class string, n int64) {
			ch <- prometheus.MustNewConstMetric(httpRequestsDesc, prometheus.CounterValue, float64(n), s.name, method, class)
		})
	}
}

// chatCollector exports the hub's members, rooms and message counters.
type chatCollector struct {
	hub *chat.Hub
	st  *chat.Stats
}

var (
	chatMembersDesc    = prometheus.NewDesc("portside_chat_members", "Chat members logged in, over all doors.", nil, nil)
	chatRoomsDesc      = prometheus.NewDesc("portside_chat_rooms", "Chat rooms with members.", nil, nil)
	chatMessagesDesc   = prometheus.NewDesc("portside_chat_messages_total", "Chat room messages delivered to their rooms, in order.", nil, nil)
	chatDeliveriesDesc = prometheus.NewDesc("portside_chat_deliveries_total", "Chat messages written to members: a message to ten members is ten.", nil, nil)
	chatDroppedDesc    = prometheus.NewDesc("portside_chat_dropped_total",
		"Chat lines or messages dropped, by reason: flood (flood control), busy (too many waiting for the history), not_kept (history could not be written), invalid (another node's message broke the text rules).",
		[]string{"reason"}, nil)
)

func (c chatCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{chatMembersDesc, chatRoomsDesc, chatMessagesDesc, chatDeliveriesDesc, chatDroppedDesc} {
		ch <- d
	}
}

func (c chatCollector) Collect(ch chan<- prometheus.Metric) {
	members, rooms := c.hub.Counts()
	ch <- prometheus.MustNewConstMetric(chatMembersDesc, prometheus.GaugeValue, float64(members))
	ch <- prometheus.MustNewConstMetric(chatRoomsDesc, prometheus.GaugeValue, float64(rooms))
	ch <- prometheus.MustNewConstMetric(chatMessagesDesc, prometheus.CounterValue, float64(c.st.Messages.Load()))
	ch <- prometheus.MustNewConstMetric(chatDeliveriesDesc, prometheus.CounterValue, float64(c.st.Deliveries.Load()))
	for reason, n := range map[string]int64{
		"flood": c.st.DroppedFlood.Load(), "busy": c.st.DroppedBusy.Load(),
		"not_kept": c.st.DroppedNotKept.Load(), "invalid": c.st.DroppedInvalid.Load(),
	} {
		ch <- prometheus.MustNewConstMetric(chatDroppedDesc, prometheus.CounterValue, float64(n), reason)
	}
}

var chatCommitDesc = prometheus.NewDesc("portside_chat_history_commit_seconds",
	"How long chat history commits took (SQLite history; with --fsync, the fsync included).", nil, nil)

// commitCollector exports the SQLite history's commit latency.
type commitCollector struct{ st *store.Stats }

func (c commitCollector) Describe(ch chan<- *prometheus.Desc) { ch <- chatCommitDesc }

func (c commitCollector) Collect(ch chan<- prometheus.Metric) {
	count, sum, cumulative := c.st.CommitLatency()
	buckets := make(map[float64]uint64, len(cumulative))
	for i, b := range store.CommitBuckets {
		buckets[b] = cumulative[i]
	}
	ch <- prometheus.MustNewConstHistogram(chatCommitDesc, count, sum, buckets)
}
