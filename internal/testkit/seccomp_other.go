//go:build !linux

package testkit

import (
	"errors"

	"golang.org/x/sys/unix"
)

// DenyIOUringSetup fails: there is no io_uring to deny.
func DenyIOUringSetup(errno unix.Errno) error { return errors.New("testkit: io_uring is Linux's") }
