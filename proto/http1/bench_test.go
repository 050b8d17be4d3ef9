package http1

import (
	"strings"
	"testing"
	"time"
)

// typicalGET is what a browser sends for a static file.
const typicalGET = "GET /static/app.css?v=3 HTTP/1.1\r\n" +
	"Host: localhost:8080\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/css,*/*;q=0.1\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Connection: keep-alive\r\n" +
	"Referer: http://localhost:8080/\r\n" +
	"Sec-Fetch-Dest: style\r\n" +
	"If-None-Match: \"17f3a2b4c5d6e7f8-400\"\r\n" +
	"\r\n"

// parseAll parses every request in in and returns how many it saw.
func parseAll(b *testing.B, p *Parser, in []byte) int {
	n := 0
	for off := 0; off < len(in); {
		k, ev, err := p.Next(in[off:])
		if err != nil {
			b.Fatal(err)
		}
		off += k
		switch ev {
		case End:
			n++
		case NeedMore:
			b.Fatalf("incomplete request at %d", off)
		}
	}
	// The last request's End needs one more call with no input.
	if _, ev, _ := p.Next(nil); ev == End {
		n++
	}
	return n
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct {
		name string
		reqs int
	}{{"req=get", 1}, {"req=get/pipelined=16", 16}} {
		b.Run(bc.name, func(b *testing.B) {
			in := []byte(strings.Repeat(typicalGET, bc.reqs))
			var p Parser
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if n := parseAll(b, &p, in); n != bc.reqs {
					b.Fatalf("parsed %d requests, want %d", n, bc.reqs)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.reqs), "ns/req")
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	now := time.Date(2026, 11, 22, 8, 49, 37, 0, time.UTC)
	mtime := now.Add(-time.Hour)
	dst := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendStatusLine(dst[:0], 200)
		dst = AppendDate(dst, now)
		dst = AppendHeader(dst, "Server", "portside")
		dst = AppendHeader(dst, "Content-Type", "text/css; charset=utf-8")
		dst = AppendContentLength(dst, 1024)
		dst = AppendHeaderTime(dst, "Last-Modified", mtime)
		dst = append(dst, "ETag: "...)
		dst = AppendETag(dst, 1024, mtime)
		dst = append(dst, "\r\nAccept-Ranges: bytes\r\n\r\n"...)
	}
	b.SetBytes(int64(len(dst)))
}
