//go:build unix

// Package sock takes sockets away from Go's network poller.
package sock

import (
	"net"
	"os"
	"syscall"
)

// Detach returns a close-on-exec duplicate of nc's socket descriptor and
// closes nc, so the caller owns a descriptor the network poller does not
// watch. The duplicate shares the socket's flags (Go's are non-blocking).
func Detach(nc net.Conn) (int, error) {
	defer nc.Close()
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, &net.OpError{Op: "detach", Net: nc.LocalAddr().Network(), Err: syscall.EINVAL}
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) { fd, dupErr = DupCloexec(int(s)) }); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, os.NewSyscallError("dup", dupErr)
	}
	return fd, nil
}

// DupCloexec returns a close-on-exec duplicate of fd, made while Go's own
// fork+exec is held off, so no child it starts inherits it.
func DupCloexec(fd int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	nfd, err := syscall.Dup(fd)
	if err == nil {
		syscall.CloseOnExec(nfd)
	}
	return nfd, err
}
