//go:build linux

package testkit

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// DenyIOUringSetup installs a seccomp filter, on every thread, under which
// io_uring_setup fails with errno, as it does under a
// seccomp policy, with kernel.io_uring_disabled set, or on a kernel without
// io_uring. It cannot be undone: call it in a process of its own.
func DenyIOUringSetup(errno unix.Errno) error {
	const (
		ldAbsW    = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeqK      = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		retK      = unix.BPF_RET | unix.BPF_K
		retErrno  = 0x00050000 // SECCOMP_RET_ERRNO
		retAllow  = 0x7fff0000 // SECCOMP_RET_ALLOW
		setFilter = 1          // SECCOMP_SET_MODE_FILTER
		tsync     = 1          // SECCOMP_FILTER_FLAG_TSYNC
	)
	prog := []unix.SockFilter{
		{Code: ldAbsW, K: 0}, // seccomp_data.nr
		{Code: jeqK, K: unix.SYS_IO_URING_SETUP, Jt: 0, Jf: 1},
		{Code: retK, K: retErrno | uint32(errno)},
		{Code: retK, K: retAllow},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, setFilter, tsync, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return e
	}
	return nil
}
