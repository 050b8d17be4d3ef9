// Package reasons keeps the reasons handlers give for closing connections
// (server.Conn.CloseWith) until an engine's loop acts on the close. A loop
// engine's connection struct is laid out to a size class and has no room
// for a field so rarely used: the reasons wait here, one book per loop.
package reasons

import "sync"

// Book maps connections to the reasons given for closing them. The zero
// Book is ready to use; it is safe for use from any goroutine.
type Book[C comparable] struct {
	mu sync.Mutex
	m  map[C]error
}

// File keeps err as the reason c closes for, replacing any kept before.
func (b *Book[C]) File(c C, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = make(map[C]error)
	}
	b.m[c] = err
}

// Take returns, and forgets, the reason kept for c; nil if none is.
func (b *Book[C]) Take(c C) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.m[c]
	delete(b.m, c)
	return err
}
