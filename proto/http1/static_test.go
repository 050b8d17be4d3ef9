package http1

import "testing"

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		v                     string
		size                  int64
		start, length, status int64
	}{
		{"bytes=0-99", 1000, 0, 100, 206},
		{"bytes=100-", 1000, 100, 900, 206},
		{"bytes=-100", 1000, 900, 100, 206},
		{"bytes=-5000", 1000, 0, 1000, 206},
		{"bytes=900-5000", 1000, 900, 100, 206},
		{"Bytes=999-999", 1000, 999, 1, 206},
		{" bytes= 1-2 ", 1000, 1, 2, 206},
		{"bytes=1000-", 1000, 0, 0, 416},
		{"bytes=1000-2000", 1000, 0, 0, 416},
		{"bytes=-0", 1000, 0, 0, 416},
		{"bytes=0-", 0, 0, 0, 416},
		{"bytes=-1", 0, 0, 0, 416},
		{"bytes=5-1", 1000, 0, 0, 200},
		{"bytes=0-1,5-6", 1000, 0, 0, 200},
		{"bytes=-", 1000, 0, 0, 200},
		{"bytes=1", 1000, 0, 0, 200},
		{"bytes=a-b", 1000, 0, 0, 200},
		{"bytes=--1", 1000, 0, 0, 200},
		{"items=0-1", 1000, 0, 0, 200},
		{"", 1000, 0, 0, 200},
	} {
		start, length, status := ParseRange([]byte(tc.v), tc.size)
		if start != tc.start || length != tc.length || int64(status) != tc.status {
			t.Errorf("ParseRange(%q, %d) = %d, %d, %d; want %d, %d, %d",
				tc.v, tc.size, start, length, status, tc.start, tc.length, tc.status)
		}
	}
}

func TestAppendContentRange(t *testing.T) {
	if got, want := string(AppendContentRange(nil, 900, 100, 1000)), "Content-Range: bytes 900-999/1000\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := string(AppendContentRangeUnsatisfied(nil, 1000)), "Content-Range: bytes */1000\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
