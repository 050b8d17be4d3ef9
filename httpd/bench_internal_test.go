package httpd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portside/portside/server/servertest"
)

// BenchmarkStatic is the handler's cost per keep-alive GET of a file, from
// request bytes to response bytes handed to the engine: parsing, lookup in
// the file cache, conditionals, the head and the body.
func BenchmarkStatic(b *testing.B) {
	dir := b.TempDir()
	for _, size := range []int{1 << 10, 64 << 10, 10 << 20} {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.bin", size)), []byte(strings.Repeat("x", size)), 0o644)
	}
	h, err := New(Options{Root: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Stop()
	for _, tc := range []struct {
		name  string
		size  int
		depth int
	}{
		{"size=1KiB", 1 << 10, 1},
		{"size=1KiB/depth=16", 1 << 10, 16},
		{"size=64KiB", 64 << 10, 1},
		{"size=10MiB", 10 << 20, 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := []byte(strings.Repeat(fmt.Sprintf("GET /f%d.bin HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n", tc.size), tc.depth))
			c := servertest.NewConn()
			c.Discard() // the handler alone is measured
			h.Open(c)
			defer h.Close(c, nil)
			b.ReportAllocs()
			b.SetBytes(int64(tc.size * tc.depth))
			for b.Loop() {
				h.Data(c, req)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tc.depth), "ns/req")
		})
	}
}
