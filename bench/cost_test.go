package bench

import (
	"testing"
	"time"
)

// The generator must cost far less per request than the servers it
// measures: these show the per-reply work allocates nothing.

func BenchmarkParser(b *testing.B) {
	resp := []byte("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 01:07:47 GMT\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Length: 1024\r\nLast-Modified: Sun, 22 Nov 2026 01:07:40 GMT\r\n" +
		"Connection: keep-alive\r\nETag: \"6740d9ac-400\"\r\nAccept-Ranges: bytes\r\n\r\n" + string(make([]byte, 1024)))
	var p parser
	p.reset()
	b.ReportAllocs()
	b.SetBytes(int64(len(resp)))
	for b.Loop() {
		n, done, err := p.feed(resp)
		if n != len(resp) || !done || err != nil {
			b.Fatalf("feed: %d %v %v", n, done, err)
		}
		p.reset()
	}
}

func BenchmarkEchoCheck(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run("size="+itoa(size), func(b *testing.B) {
			cfg := &Config{Mode: Echo, Size: size, Pipeline: 16, Conns: 1, Duration: time.Second,
				Targets: []Target{{Addr: "127.0.0.1:7"}}}
			if err := cfg.Validate(); err != nil {
				b.Fatal(err)
			}
			r := newRun(cfg, cfg.Targets[0], "", false)
			w := &worker{r: r, sh: r.shards[0]}
			w.init()
			s := w.sess.(*echoTCP)
			s.reset()
			w.out = 1 << 62 // replies are owed forever
			// A copy, as a reply would be: bytes.Equal on the same
			// memory would not compare.
			reply := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				off := int(s.recv % echoPeriod)
				copy(reply, s.p.pat[off:off+size])
				if k := s.feed(reply); k != kindOK {
					b.Fatal(k)
				}
				w.lat = w.lat[:0]
			}
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
