package servertest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Split says how input is cut into the pieces that arrive as one read
// each. Its String names it in failures.
type Split struct {
	name string
	cut  func(n int) []int // piece lengths, summing to n
}

func (s Split) String() string { return s.name }

// pieces cuts n bytes, dropping empty pieces: an engine never hands Data
// nothing new.
func (s Split) pieces(n int) []int {
	var out []int
	total := 0
	for _, k := range s.cut(n) {
		if k > 0 {
			out = append(out, k)
			total += k
		}
	}
	if total != n {
		panic(fmt.Sprintf("servertest: split %s cuts %d bytes into pieces of %d", s.name, n, total))
	}
	return out
}

// Whole is the input as one read.
func Whole() Split {
	return Split{"whole", func(n int) []int { return []int{n} }}
}

// Chunks cuts the input into pieces of the given sizes, the list repeated
// as often as needed; Chunks(1) hands it a byte at a time.
func Chunks(sizes ...int) Split {
	if len(sizes) == 0 || slices.Min(sizes) <= 0 {
		panic("servertest: Chunks needs positive sizes")
	}
	return Split{"chunks " + join(sizes), func(n int) []int {
		var out []int
		for i := 0; n > 0; i++ {
			k := min(sizes[i%len(sizes)], n)
			out = append(out, k)
			n -= k
		}
		return out
	}}
}

// At cuts the input at the given offsets; offsets beyond it are ignored.
func At(offsets ...int) Split {
	return Split{"at " + join(offsets), func(n int) []int {
		var out []int
		last := 0
		for _, at := range offsets {
			at = min(max(at, last), n)
			out = append(out, at-last)
			last = at
		}
		return append(out, n-last)
	}}
}

// Random cuts the input at random offsets drawn from seed, with pieces of
// all sizes from one byte up: the same seed cuts the same input the same
// way.
func Random(seed uint64) Split {
	return Split{"random " + strconv.FormatUint(seed, 10), func(n int) []int {
		r := rand.New(rand.NewPCG(seed, 0x5e7e57))
		var out []int
		for n > 0 {
			// Mostly short pieces, now and then a long one.
			k := 1 + r.IntN(min(n, 1+r.IntN(64)<<r.IntN(6)))
			out = append(out, k)
			n -= k
		}
		return out
	}}
}

// EveryCut is the input cut in two at each offset from 1 to n-1.
func EveryCut(n int) []Split {
	var out []Split
	for i := 1; i < n; i++ {
		out = append(out, At(i))
	}
	return out
}

func join(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
