//go:build unix

package server

import (
	"os"

	"github.com/tiny-mp-cache/tiny-mp-cache/internal/sock"
)

// dupLogFD is a file of its own on the descriptor fd: closing it leaves fd open.
func dupLogFD(fd int) (*os.File, error) {
	nfd, err := sock.DupCloexec(fd)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(nfd), "log"), nil
}
