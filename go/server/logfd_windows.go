package server

import (
	"os"
	"syscall"
)

// dupLogFD is a file of its own on the handle h (Python's
// msvcrt.get_osfhandle of a pipe's end): closing it leaves h open.
func dupLogFD(h int) (*os.File, error) {
	self, err := syscall.GetCurrentProcess()
	if err != nil {
		return nil, err
	}
	var dup syscall.Handle
	if err := syscall.DuplicateHandle(self, syscall.Handle(h), self, &dup, 0, false, syscall.DUPLICATE_SAME_ACCESS); err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(dup), "log"), nil
}
