package reasons

import (
	"errors"
	"sync"
	"testing"
)

func TestBook(t *testing.T) {
	var b Book[int]
	if err := b.Take(1); err != nil {
		t.Fatalf("Take from an empty book: %v", err)
	}
	first, second := errors.New("first"), errors.New("second")
	b.File(1, first)
	b.File(1, second)
	b.File(2, first)
	if err := b.Take(1); err != second {
		t.Errorf("Take(1) = %v, want the reason filed last", err)
	}
	if err := b.Take(1); err != nil {
		t.Errorf("Take(1) again = %v, want nil: taken reasons are forgotten", err)
	}
	if err := b.Take(2); err != first {
		t.Errorf("Take(2) = %v, want %v", err, first)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { b.File(i, first); b.Take(i) })
	}
	wg.Wait()
	if len(b.m) != 0 {
		t.Errorf("%d reasons left after every one was taken", len(b.m))
	}
}
