//go:build unix

package server

import (
	"syscall"
	"time"
)

// cpuTimes is the processor time spent in the kernel and in user code.
type cpuTimes struct{ sys, user time.Duration }

// cpuUsage returns the CPU time of this process and of its waited-for
// children, for INFO's CPU section.
func cpuUsage() (self, children cpuTimes) {
	var s, c syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &s)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c)
	return cpuTimes{time.Duration(s.Stime.Nano()), time.Duration(s.Utime.Nano())},
		cpuTimes{time.Duration(c.Stime.Nano()), time.Duration(c.Utime.Nano())}
}
