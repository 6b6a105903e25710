//go:build windows

package server

import (
	"syscall"
	"time"
)

// cpuTimes is the processor time spent in the kernel and in user code.
type cpuTimes struct{ sys, user time.Duration }

// cpuUsage returns the CPU time of this process, for INFO's CPU section.
// Windows keeps no total for a process's children: theirs are zero.
func cpuUsage() (self, children cpuTimes) {
	var created, exited, kernel, user syscall.Filetime
	h, err := syscall.GetCurrentProcess()
	if err != nil || syscall.GetProcessTimes(h, &created, &exited, &kernel, &user) != nil {
		return
	}
	return cpuTimes{filetimeSpan(kernel), filetimeSpan(user)}, cpuTimes{}
}

// filetimeSpan reads a FILETIME that holds a span of 100 ns ticks, not a date.
func filetimeSpan(ft syscall.Filetime) time.Duration {
	return time.Duration(int64(ft.HighDateTime)<<32|int64(ft.LowDateTime)) * 100
}
