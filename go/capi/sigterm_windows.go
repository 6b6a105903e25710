//go:build cgo

package main

import "os"

// raiseSIGTERM ends the process. On Windows, Go reports the console's
// close, logoff and shutdown events as SIGTERM, and the process would end
// once they were handled; there is no signal to send again.
func raiseSIGTERM() { os.Exit(1) }
