package http1

import (
	"fmt"
	"slices"
	"testing"
)

func TestParseRanges(t *testing.T) {
	type br = ByteRange
	for _, tc := range []struct {
		v      string
		size   int64
		want   []ByteRange
		status int
	}{
		{"bytes=0-99", 1000, []br{{0, 100}}, 206},
		{"bytes=0-0,-1", 1000, []br{{0, 1}, {999, 1}}, 206},
		{"bytes=500-599, 100-199", 1000, []br{{500, 100}, {100, 100}}, 206},
		{"bytes=0-1,,2-3,", 1000, []br{{0, 2}, {2, 2}}, 206},
		{"bytes=0-1,5000-6000", 1000, []br{{0, 2}}, 206},
		{"bytes=900-", 1000, []br{{900, 100}}, 206},
		{"bytes=5000-6000,7000-", 1000, nil, 416},
		{"bytes=-0", 1000, nil, 416},
		{"bytes=0-", 0, nil, 416},
		{"bytes=0-10,5-15", 1000, nil, 200},    // overlap
		{"bytes=0-,0-", 1000, nil, 200},        // overlap
		{"bytes=-500,600-650", 1000, nil, 200}, // overlap through a suffix
		{"bytes=0-1,3-2", 1000, nil, 200},      // malformed element spoils the set
		{"bytes=0-1,x", 1000, nil, 200},
		{"bytes=", 1000, nil, 200},
		{"bytes=,", 1000, nil, 200},
		{"items=0-1", 1000, nil, 200},
		{"bytes=0-0,2-2,4-4,6-6,8-8", 1000, nil, 200}, // more than max (4)
		{"bytes=0-0,2-2,4-4,6-6", 1000, []br{{0, 1}, {2, 1}, {4, 1}, {6, 1}}, 206},
	} {
		t.Run(tc.v, func(t *testing.T) {
			got, status := ParseRanges(nil, []byte(tc.v), tc.size, 4)
			if status != tc.status || !slices.Equal(got, tc.want) {
				t.Errorf("ParseRanges(%q, %d) = %v, %d; want %v, %d", tc.v, tc.size, got, status, tc.want, tc.status)
			}
		})
	}
}

func TestParseRangesAgreesWithParseRange(t *testing.T) {
	for _, v := range []string{"bytes=0-99", "bytes=-5", "bytes=10-", "bytes=2000-", "bytes=5-1", "bytes=a", "x=1-2"} {
		start, length, status := ParseRange([]byte(v), 1000)
		got, st2 := ParseRanges(nil, []byte(v), 1000, 1)
		if status != st2 {
			t.Errorf("%q: ParseRanges status %d, ParseRange %d", v, st2, status)
		}
		if status == 206 && (len(got) != 1 || got[0] != (ByteRange{start, length})) {
			t.Errorf("%q: ParseRanges %v, ParseRange %d+%d", v, got, start, length)
		}
	}
}

func TestParseRangesNoAlloc(t *testing.T) {
	dst := make([]ByteRange, 0, 8)
	v := []byte("bytes=0-9, 20-29, -5")
	allocs := testing.AllocsPerRun(100, func() { ParseRanges(dst[:0], v, 1000, 8) })
	if allocs != 0 {
		t.Errorf("%v allocations; want 0", allocs)
	}
}

func TestRangesLength(t *testing.T) {
	rs := []ByteRange{{0, 10}, {500, 20}, {990, 10}}
	for _, typ := range []string{"", "text/plain; charset=utf-8"} {
		var body []byte
		for _, r := range rs {
			body = AppendRangePart(body, "B0UND", typ, r, 1000)
			body = append(body, make([]byte, r.Length)...)
		}
		body = AppendRangesEnd(body, "B0UND")
		if got := RangesLength("B0UND", typ, rs, 1000); got != int64(len(body)) {
			t.Errorf("type %q: RangesLength = %d; framed body is %d bytes", typ, got, len(body))
		}
	}
	got := string(AppendRangePart(nil, "B", "text/plain", ByteRange{5, 3}, 10))
	want := "\r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 5-7/10\r\n\r\n"
	if got != want {
		t.Errorf("AppendRangePart = %q; want %q", got, want)
	}
	if got, want := string(AppendRangesEnd(nil, "B")), "\r\n--B--\r\n"; got != want {
		t.Errorf("AppendRangesEnd = %q; want %q", got, want)
	}
}

func ExampleParseRanges() {
	rs, status := ParseRanges(nil, []byte("bytes=0-4, -3"), 100, 16)
	fmt.Println(status, rs)
	// Output: 206 [{0 5} {97 3}]
}
