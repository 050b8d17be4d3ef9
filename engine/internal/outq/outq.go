//go:build linux

// Package outq is the output queue of the event-loop engines' connections
// (epoll, select, poll, uring): what the handler wrote and the loop has not
// yet sent, as pooled chunks of bytes and ranges of files, with the
// accounting Conn.Queued and the memory limits read.
//
// A Queue has no lock: its connection's mutex guards it, since writers on
// any goroutine append while the loop sends. It is a value meant to be
// embedded in the connection, so it adds no pointer to chase and keeps the
// connection's layout.
package outq

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Queue is one connection's output. The zero Queue is empty.
type Queue struct {
	head   int   // segs[head:] is queued
	segs   []Seg // the queue
	mem    int   // bytes of segs held in memory; what the limits count
	queued int64 // bytes of segs, memory and files
}

// Seg is one piece of queued output: bytes in a pooled chunk, or a range of
// a file (F non-nil), N bytes from Off.
type Seg struct {
	ch  *chunk
	F   *os.File
	Off int64
	N   int64
}

// chunk holds queued bytes b[r:]; writers append up to cap(b).
type chunk struct {
	b []byte
	r int
}

// Chunks come in two sizes. A connection whose queue is empty and that is
// handed a short message (a chat line, a ping) gets a small chunk: a
// broadcast to thousands of mostly idle connections then holds kilobytes,
// not a 16 KiB chunk each, until their loops have sent it. Anything
// bigger, or more output behind it, goes in large chunks.
const (
	chunkSize      = 16 << 10
	smallChunkSize = 1 << 10
)

var (
	chunks      = sync.Pool{New: func() any { return &chunk{b: make([]byte, 0, chunkSize)} }}
	smallChunks = sync.Pool{New: func() any { return &chunk{b: make([]byte, 0, smallChunkSize)} }}
)

func getChunk(small bool) *chunk {
	if small {
		return smallChunks.Get().(*chunk)
	}
	return chunks.Get().(*chunk)
}

func putChunk(ch *chunk) {
	ch.b, ch.r = ch.b[:0], 0
	if cap(ch.b) == smallChunkSize {
		smallChunks.Put(ch)
		return
	}
	chunks.Put(ch)
}

// Empty reports whether nothing is queued.
func (q *Queue) Empty() bool { return len(q.segs) == 0 }

// Mem reports the bytes queued in memory: what MaxQueue and the high-water
// mark bound.
func (q *Queue) Mem() int { return q.mem }

// Queued reports the bytes queued, in memory and in files.
func (q *Queue) Queued() int64 { return q.queued }

// Touch reads the queue's first word, to bring its cache line in ahead of
// use (see epoll's prefetch). Its sender alone moves it, so the sender may
// call Touch without the lock writers take.
func (q *Queue) Touch() int { return q.head }

// Append queues a copy of b, filling the last chunk before taking another.
func (q *Queue) Append(b []byte) {
	q.mem += len(b)
	q.queued += int64(len(b))
	for len(b) > 0 {
		var ch *chunk
		if k := len(q.segs); k > 0 && q.segs[k-1].ch != nil && len(q.segs[k-1].ch.b) < cap(q.segs[k-1].ch.b) {
			ch = q.segs[k-1].ch
		} else {
			ch = getChunk(len(q.segs) == 0 && len(b) <= smallChunkSize)
			q.segs = append(q.segs, Seg{ch: ch})
		}
		n := copy(ch.b[len(ch.b):cap(ch.b)], b)
		ch.b = ch.b[:len(ch.b)+n]
		b = b[n:]
	}
}

// AppendFile queues n > 0 bytes of f from off. The queue owns f from now:
// it closes it once the bytes are sent or the queue is released.
func (q *Queue) AppendFile(f *os.File, off, n int64) {
	q.segs = append(q.segs, Seg{F: f, Off: off, N: n})
	q.queued += n
}

// Head returns the first piece queued; the queue must not be empty. A file
// range (F non-nil) is sent by the caller, which reports it with FileSent;
// bytes in memory are sent through Iovecs and Sent.
func (q *Queue) Head() *Seg { return &q.segs[q.head] }

// Iovecs appends to iov, up to its capacity, the chunks at the head of the
// queue, stopping at a file; it returns them and their bytes. The iovecs
// point into the chunks: the caller clears them once the send is done.
func (q *Queue) Iovecs(iov []unix.Iovec) ([]unix.Iovec, int) {
	total := 0
	for i := q.head; i < len(q.segs) && len(iov) < cap(iov); i++ {
		s := &q.segs[i]
		if s.ch == nil {
			break
		}
		b := s.ch.b[s.ch.r:]
		iov = append(iov, unix.Iovec{Base: &b[0], Len: uint64(len(b))})
		total += len(b)
	}
	return iov, total
}

// Sent takes n bytes sent from Iovecs off the head of the queue, recycling
// the chunks emptied.
func (q *Queue) Sent(n int) {
	q.mem -= n
	q.queued -= int64(n)
	for n > 0 {
		ch := q.segs[q.head].ch
		k := min(n, len(ch.b)-ch.r)
		ch.r += k
		n -= k
		if ch.r == len(ch.b) {
			putChunk(ch)
			q.pop()
		}
	}
}

// FileSent counts n bytes of the file range at the head as sent; the
// caller has moved Off past them (sendfile(2) moves it itself). Once the
// range is all sent the file is closed and the range dropped.
func (q *Queue) FileSent(n int64) {
	s := &q.segs[q.head]
	s.N -= n
	q.queued -= n
	if s.N == 0 {
		s.F.Close()
		q.pop()
	}
}

// Release drops everything queued, closing the files.
func (q *Queue) Release() {
	for i := q.head; i < len(q.segs); i++ {
		if ch := q.segs[i].ch; ch != nil {
			putChunk(ch)
		}
		if f := q.segs[i].F; f != nil {
			f.Close()
		}
	}
	clear(q.segs)
	q.segs, q.head = nil, 0
	q.mem = 0
	q.queued = 0
}

// pop drops the head of the queue. Once the queue is empty its array is
// reused from the start, so steady traffic allocates nothing; a large one
// left by a burst is dropped.
func (q *Queue) pop() {
	q.segs[q.head] = Seg{}
	q.head++
	if q.head == len(q.segs) {
		q.segs, q.head = q.segs[:0], 0
		if cap(q.segs) > 8 {
			q.segs = nil
		}
	}
}
