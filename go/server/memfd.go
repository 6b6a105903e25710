//go:build linux && !tmc_portable && (amd64 || arm64)

package server

import (
	"syscall"
	"unsafe"
)

// memfdCreate is memfd_create(2).
func memfdCreate(name string, flags int) (int, error) {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return -1, err
	}
	fd, _, errno := syscall.Syscall(uintptr(sysMemfdCreate), uintptr(unsafe.Pointer(p)), uintptr(flags), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}
