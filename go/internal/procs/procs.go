// Package procs sets how many threads may run Go code at once.
package procs

import (
	"os"
	"runtime"
)

// AtLeastTwo raises GOMAXPROCS to 2 where Go chose 1 (one CPU, or a CPU
// quota of one) and the user did not set it.
//
// With a single P, a thread that waits in a system call for more than
// 20 us, as the server's event loop waiting for clients or a client whose
// reply takes longer than its first raw 2 ms wait does, has its P taken away by the runtime's monitor
// thread, which then keeps waking every 20 us; the thread must win a P back
// when the call returns. Pinned to one CPU, that cost our client 1 us of a
// 20 us round trip. A second P, idle, lets the waiting thread keep its own.
// More Ps than CPUs is harmless here: hardly any Go code runs at once.
func AtLeastTwo() {
	if os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
}

// Usable returns how many CPUs the process may run on at once: those of
// its affinity mask, fewer if GOMAXPROCS (which follows a CPU quota) is
// lower.
func Usable() int { return min(runtime.NumCPU(), runtime.GOMAXPROCS(0)) }
