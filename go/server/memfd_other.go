//go:build linux && !tmc_portable && !amd64 && !arm64

package server

import "syscall"

// memfdCreate: the system call's number is not known here, so there are no
// slabs, and clients seal memfds of their own (TMC.SETFD).
func memfdCreate(name string, flags int) (int, error) { return -1, syscall.ENOSYS }
