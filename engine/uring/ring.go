//go:build linux

package uring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file is the io_uring interface itself: the kernel's structures, the
// three system calls, and the shared rings mapped into our memory. It
// knows nothing of connections.

// Opcodes, flags and offsets from <linux/io_uring.h>.
const (
	opNop         = 0
	opSendmsg     = 9
	opAccept      = 13
	opAsyncCancel = 14
	opRead        = 22
	opSend        = 26
	opRecv        = 27

	sqeBufferSelect = 1 << 5 // IOSQE_BUFFER_SELECT

	acceptMultishot = 1 << 0 // IORING_ACCEPT_MULTISHOT, in ioprio
	cancelFD        = 1 << 1 // IORING_ASYNC_CANCEL_FD
	cancelAll       = 1 << 0 // IORING_ASYNC_CANCEL_ALL

	cqeFBuffer  = 1 << 0 // IORING_CQE_F_BUFFER
	cqeFMore    = 1 << 1 // IORING_CQE_F_MORE
	cqeBufShift = 16

	setupCQSize      = 1 << 3 // IORING_SETUP_CQSIZE
	setupClamp       = 1 << 4
	setupSubmitAll   = 1 << 7
	setupCoopTaskrun = 1 << 8
	setupRDisabled   = 1 << 6
	setupSingleIss   = 1 << 12
	setupDeferTask   = 1 << 13

	featSingleMmap = 1 << 0
	featNoDrop     = 1 << 1
	featExtArg     = 1 << 8

	enterGetEvents = 1 << 0
	enterExtArg    = 1 << 3

	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000

	registerEnableRings = 12
	registerPbufRing    = 22
	unregisterPbufRing  = 23
)

// sqe is struct io_uring_sqe (64 bytes).
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32
	userData    uint64
	bufIndex    uint16 // buf_group with sqeBufferSelect
	personality uint16
	spliceFD    int32
	addr3       uint64
	_           uint64
}

// cqe is struct io_uring_cqe (16 bytes).
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// params is struct io_uring_params.
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

// geteventsArg is struct io_uring_getevents_arg, for IORING_ENTER_EXT_ARG.
type geteventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	minWait   uint32
	ts        uint64
}

// bufReg is struct io_uring_buf_reg.
type bufReg struct {
	ringAddr    uint64
	ringEntries uint32
	bgid        uint16
	flags       uint16
	resv        [3]uint64
}

// ring is one io_uring instance with a ring of provided receive buffers.
// It is used by one goroutine only.
type ring struct {
	fd     int
	sqMem  []byte // the SQ ring (and the CQ ring too, with a single mapping)
	cqMem  []byte // the CQ ring when mapped apart, else nil
	sqeMem []byte

	sqHead, sqTail *uint32
	sqMask         uint32
	sqes           []sqe
	tail           uint32 // our local tail: SQEs filled but not yet published
	submitted      uint32 // the tail published to the kernel

	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []cqe
	stash          []cqe // completions moved aside by get (see there)
	stashed        int   // stash[:stashed] handed out

	// Provided buffers: a ring the kernel takes receive buffers from.
	bufMem   []byte // the buffer ring, then the buffers
	bufRing  []ringBuf
	bufTail  *uint32 // the word whose high half is the buffer ring's tail
	bufLocal uint16
	bufs     []byte // nbufs buffers of bufSize bytes
	scratch  []byte // 64 bytes the kernel may write to, e.g. an eventfd's count
	bufSize  int
	nbufs    int

	disabled bool // made with R_DISABLED: enable must be called first

	ts  unix.Timespec
	arg geteventsArg
}

// ringBuf is struct io_uring_buf; the ring's tail overlays the first
// entry's last 16 bits.
type ringBuf struct {
	addr uint64
	len  uint32
	bid  uint16
	resv uint16
}

const bufGroup = 0

// ErrUnavailable wraps the reason io_uring cannot be used here.
var ErrUnavailable = errors.New("uring: io_uring is unavailable")

// failAfter, when set by a test, is called at each step of newRing; an
// error from it fails the setup there, to check nothing is leaked.
var failAfter func(step string) error

func step(name string) error {
	if failAfter != nil {
		return failAfter(name)
	}
	return nil
}

// newRing sets up a ring of at least entries submission entries, twice as
// many completion entries, and nbufs provided buffers of bufSize bytes
// each (nbufs a power of two). On any failure it releases what it made.
//
// With single, the ring is made for one thread's use (SINGLE_ISSUER), its
// completions' work deferred to the waits (DEFER_TASKRUN, Linux 6.1), and
// disabled until that thread calls enable.
func newRing(entries uint32, nbufs, bufSize int, single bool) (r *ring, err error) {
	var p params
	e := unix.EINVAL
	var fd uintptr
	disabled := false
	if single {
		p = params{flags: setupCQSize | setupClamp | setupSubmitAll | setupRDisabled | setupSingleIss | setupDeferTask, cqEntries: 2 * entries}
		fd, _, e = unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
		disabled = e == 0
	}
	if e == unix.EINVAL {
		p = params{flags: setupCQSize | setupClamp | setupSubmitAll | setupCoopTaskrun, cqEntries: 2 * entries}
		fd, _, e = unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	}
	if e == unix.EINVAL {
		// A kernel before 5.19 knows neither COOP_TASKRUN nor
		// SUBMIT_ALL; the feature checks below then say what is
		// missing.
		p = params{flags: setupCQSize | setupClamp, cqEntries: 2 * entries}
		fd, _, e = unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	}
	if e != 0 {
		return nil, fmt.Errorf("%w: io_uring_setup: %w%s", ErrUnavailable, e, setupHint(e))
	}
	made := &ring{fd: int(fd), disabled: disabled}
	r = made
	defer func() {
		if err != nil {
			made.close() // r is nil by now: the error returns set it
			r = nil
		}
	}()
	if err := step("setup"); err != nil {
		return nil, err
	}
	const need = featSingleMmap | featNoDrop | featExtArg
	if p.features&need != need {
		return nil, fmt.Errorf("%w: the kernel's io_uring lacks features this engine needs (Linux 5.11 or later)", ErrUnavailable)
	}
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	r.sqMem, err = unix.Mmap(r.fd, offSQRing, max(sqSize, cqSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("uring: mmap rings: %w", err)
	}
	if err := step("mmap rings"); err != nil {
		return nil, err
	}
	r.sqeMem, err = unix.Mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("uring: mmap submission entries: %w", err)
	}
	if err := step("mmap sqes"); err != nil {
		return nil, err
	}
	sq, cq := r.sqMem, r.sqMem
	r.sqHead = (*uint32)(unsafe.Pointer(&sq[p.sqOff.head]))
	r.sqTail = (*uint32)(unsafe.Pointer(&sq[p.sqOff.tail]))
	r.sqMask = *(*uint32)(unsafe.Pointer(&sq[p.sqOff.ringMask]))
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	// Entry i of the indirection array always names SQE i: SQEs are
	// published in order.
	array := unsafe.Slice((*uint32)(unsafe.Pointer(&sq[p.sqOff.array])), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.tail = atomic.LoadUint32(r.sqTail)
	r.submitted = r.tail
	r.cqHead = (*uint32)(unsafe.Pointer(&cq[p.cqOff.head]))
	r.cqTail = (*uint32)(unsafe.Pointer(&cq[p.cqOff.tail]))
	r.cqMask = *(*uint32)(unsafe.Pointer(&cq[p.cqOff.ringMask]))
	r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&cq[p.cqOff.cqes])), p.cqEntries)

	if err := r.setupBuffers(nbufs, bufSize); err != nil {
		return nil, err
	}
	return r, nil
}

// enable enables a ring made disabled, making the calling thread its one
// submitter.
func (r *ring) enable() error {
	if !r.disabled {
		return nil
	}
	_, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), registerEnableRings, 0, 0, 0, 0)
	if e != 0 {
		return fmt.Errorf("uring: enabling the ring: %w", e)
	}
	r.disabled = false
	return nil
}

// setupHint explains the usual reasons io_uring_setup fails.
func setupHint(e unix.Errno) string {
	switch e {
	case unix.ENOSYS:
		return " (the kernel was built without io_uring, or is older than 5.1)"
	case unix.EPERM:
		return " (disabled by the kernel.io_uring_disabled sysctl, or forbidden to this process by a seccomp policy or kernel.io_uring_group)"
	case unix.EACCES:
		return " (forbidden by a security policy such as seccomp)"
	case unix.ENOMEM:
		return " (out of locked memory: see ulimit -l)"
	}
	return ""
}

// setupBuffers maps the provided-buffer ring and its buffers and registers
// them with the kernel (IORING_REGISTER_PBUF_RING, Linux 5.19).
func (r *ring) setupBuffers(nbufs, bufSize int) error {
	ringBytes := (nbufs*int(unsafe.Sizeof(ringBuf{})) + 4095) &^ 4095
	// Shared, so that the mapping is one of its own (anonymous private
	// mappings merge with their neighbours) and its leak would show.
	mem, err := unix.Mmap(-1, 0, ringBytes+4096+nbufs*bufSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("uring: mmap buffers: %w", err)
	}
	r.bufMem = mem
	if err := step("mmap buffers"); err != nil {
		return err
	}
	r.bufRing = unsafe.Slice((*ringBuf)(unsafe.Pointer(&mem[0])), nbufs)
	r.bufTail = (*uint32)(unsafe.Pointer(&mem[12]))
	r.scratch = mem[ringBytes : ringBytes+64]
	r.bufs = mem[ringBytes+4096:]
	r.bufSize, r.nbufs = bufSize, nbufs
	reg := bufReg{ringAddr: uint64(uintptr(unsafe.Pointer(&mem[0]))), ringEntries: uint32(nbufs), bgid: bufGroup}
	_, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), registerPbufRing, uintptr(unsafe.Pointer(&reg)), 1, 0, 0)
	if e != 0 {
		return fmt.Errorf("%w: registering a provided-buffer ring: %w (needs Linux 5.19 or later)", ErrUnavailable, e)
	}
	if err := step("register buffers"); err != nil {
		return err
	}
	for i := range nbufs {
		r.putBuf(uint16(i))
	}
	r.publishBufs()
	return nil
}

// buf returns provided buffer bid, n bytes long.
func (r *ring) buf(bid uint16, n int) []byte {
	off := int(bid) * r.bufSize
	return r.bufs[off : off+n : off+r.bufSize]
}

// putBuf gives buffer bid back to the kernel once publishBufs is called.
func (r *ring) putBuf(bid uint16) {
	off := int(bid) * r.bufSize
	b := &r.bufRing[r.bufLocal&uint16(r.nbufs-1)]
	b.addr = uint64(uintptr(unsafe.Pointer(&r.bufs[off])))
	b.len = uint32(r.bufSize)
	b.bid = bid
	r.bufLocal++
}

func (r *ring) publishBufs() {
	// The tail is the high 16 bits of a word whose low half is entry 0's
	// bid, which only we write: an atomic 32-bit store publishes the tail
	// after the entries written before it (sync/atomic has no 16-bit
	// store).
	w := atomic.LoadUint32(r.bufTail)
	atomic.StoreUint32(r.bufTail, w&0xffff|uint32(r.bufLocal)<<16)
}

// close unmaps the rings and buffers and closes the ring; it is safe on a
// ring only partly set up. The kernel cancels what is still in flight.
func (r *ring) close() {
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
	for _, m := range []*[]byte{&r.sqeMem, &r.cqMem, &r.sqMem, &r.bufMem} {
		if *m != nil {
			unix.Munmap(*m)
			*m = nil
		}
	}
}

// get returns a cleared SQE to fill, first submitting what is queued if
// the submission ring is full: a request is never dropped. A kernel that
// refuses submissions while completions overflow (EBUSY, before Linux 5.19's
// unbounded overflow list) is given room: the completions waiting are moved
// aside, to be handed out by next before any newer one.
func (r *ring) get() (*sqe, error) {
	for r.tail-atomic.LoadUint32(r.sqHead) >= uint32(len(r.sqes)) {
		if _, err := r.enter(false, -1); err != nil {
			return nil, err
		}
		if r.tail-atomic.LoadUint32(r.sqHead) >= uint32(len(r.sqes)) {
			r.stashReady()
		}
	}
	s := &r.sqes[r.tail&r.sqMask]
	*s = sqe{}
	r.tail++
	return s, nil
}

// stashReady moves the completions waiting in the ring aside.
func (r *ring) stashReady() {
	for n := r.cqReady(); n > 0; n-- {
		r.stash = append(r.stash, r.cqes[*r.cqHead&r.cqMask])
		atomic.StoreUint32(r.cqHead, *r.cqHead+1)
	}
}

// pending reports SQEs filled and not yet submitted.
func (r *ring) pending() uint32 { return r.tail - r.submitted }

// enter submits what is queued and, if wait, waits for at least one
// completion or until timeout ns have passed (timeout < 0: no limit). It
// returns the completions ready.
func (r *ring) enter(wait bool, timeout int64) (int, error) {
	atomic.StoreUint32(r.sqTail, r.tail)
	toSubmit := r.tail - r.submitted
	var flags uintptr
	var minComplete uintptr
	var argp unsafe.Pointer
	var argsz uintptr
	if wait {
		flags = enterGetEvents | enterExtArg
		minComplete = 1
		r.arg = geteventsArg{}
		if timeout >= 0 {
			r.ts = unix.NsecToTimespec(timeout)
			r.arg.ts = uint64(uintptr(unsafe.Pointer(&r.ts)))
		}
		argp, argsz = unsafe.Pointer(&r.arg), unsafe.Sizeof(r.arg)
	}
	for {
		n, _, e := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), minComplete, flags, uintptr(argp), argsz)
		switch e {
		case 0:
			r.submitted += uint32(n)
			toSubmit -= uint32(n)
			if toSubmit > 0 && !wait {
				continue
			}
		case unix.EINTR, unix.ETIME:
		case unix.EAGAIN, unix.EBUSY:
			// The completion ring is full: the caller must reap
			// before more can be submitted.
		default:
			return 0, fmt.Errorf("uring: io_uring_enter: %w", e)
		}
		break
	}
	return r.ready(), nil
}

// ready reports the completions waiting to be reaped.
func (r *ring) ready() int { return len(r.stash) - r.stashed + r.cqReady() }

func (r *ring) cqReady() int {
	return int(atomic.LoadUint32(r.cqTail) - *r.cqHead)
}

// next returns the oldest completion waiting, and false if there is none.
// Its slot is given back at once, so that what handling it submits cannot
// overflow the completion ring.
func (r *ring) next() (cqe, bool) {
	if r.stashed < len(r.stash) {
		e := r.stash[r.stashed]
		r.stashed++
		if r.stashed == len(r.stash) {
			r.stash, r.stashed = r.stash[:0], 0
		}
		return e, true
	}
	if r.cqReady() == 0 {
		return cqe{}, false
	}
	e := r.cqes[*r.cqHead&r.cqMask]
	atomic.StoreUint32(r.cqHead, *r.cqHead+1)
	return e, true
}
