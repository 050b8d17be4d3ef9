package line_test

import (
	"fmt"

	"github.com/portside/portside/proto/line"
)

// A handler's Data walks the complete lines of its input and reports what
// it used; the partial line at the end is the engine's to keep.
func ExampleScanner() {
	in := []byte("GET a\r\nSET a 1\nDEL")
	s := line.NewScanner(in, 1024)
	for s.Scan() {
		fmt.Printf("%q\n", s.Line())
	}
	fmt.Println("consumed", s.Used, "of", len(in), s.Err())
	// Output:
	// "GET a"
	// "SET a 1"
	// consumed 15 of 18 <nil>
}

func ExampleNext() {
	l, n, err := line.Next([]byte("partial"), 4)
	fmt.Println(l, n, err)
	// Output: [] 0 line: line too long
}
