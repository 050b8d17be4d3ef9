package bench

import (
	"os"
	"reflect"
	"testing"
	"time"
)

func TestParsePerf(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  string
		u, k int64
		ok   bool
	}{
		{"counted", "123456,,cycles:u,1000,100.00,,\n7890,,cycles:k,1000,100.00,,\n", 123456, 7890, true},
		{"not supported", "<not supported>,,cycles:u,0,100.00,,\n<not supported>,,cycles:k,0,100.00,,\n", 0, 0, false},
		{"one of two", "5,,cycles:u,1,100.00,,\n", 5, 0, false},
		{"nothing", "", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, k, ok := parsePerf([]byte(tc.out))
			if u != tc.u || k != tc.k || ok != tc.ok {
				t.Errorf("got %d, %d, %v; want %d, %d, %v", u, k, ok, tc.u, tc.k, tc.ok)
			}
		})
	}
}

func TestCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		out  string
	}{
		{"0", []int{0}, "0"},
		{"0-3,6", []int{0, 1, 2, 3, 6}, "0-3,6"},
		{"3,1,2", []int{1, 2, 3}, "1-3"},
		{"1,1", []int{1}, "1"},
	} {
		got, err := ParseCPUs(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) || FormatCPUs(got) != tc.out {
			t.Errorf("%q: got %v (%s), %v; want %v (%s)", tc.in, got, FormatCPUs(got), err, tc.want, tc.out)
		}
	}
	for _, bad := range []string{"", "x", "-1", "3-1", "0-9999"} {
		if _, err := ParseCPUs(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestProcCPU(t *testing.T) {
	a, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the kernel's counter shows it (ticks are 10 ms).
	deadline := time.Now().Add(10 * time.Second)
	b := a
	for x := 0; b.total <= a.total && time.Now().Before(deadline); {
		for i := range 10_000_000 {
			x += i % 7
		}
		if b, err = procCPU(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	if b.total <= a.total || b.uTick+b.sTick < a.uTick+a.sTick {
		t.Errorf("CPU time went from %+v to %+v", a, b)
	}
	if _, err := procCPU(1 << 30); err == nil {
		t.Error("a pid that cannot exist was read")
	}
}
