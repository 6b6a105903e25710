package server

import (
	"runtime/debug"
	"time"
)

// A buffer that grew for a big request or reply is dropped once the
// request has run or the reply is written. The Go runtime would return
// that memory to the operating system only after a collection has found
// it free, and then slowly: after KEYS, MGET and LRANGE over a million
// keys the server stayed at more than twice its live heap. So a big drop
// asks for a collection that returns free memory at once, after a pause
// that lets a burst of big replies share one.
const (
	releaseMin   = 16 << 20        // a dropped buffer this big asks for a release
	releaseDelay = 2 * time.Second // at most one release per this long
)

// dropped is told the size of each buffer a connection let go.
func (s *Server) dropped(n int) {
	if n >= releaseMin {
		select {
		case s.release <- struct{}{}:
		default: // a release is already due
		}
	}
}

// releaseLoop returns free memory to the operating system after big
// buffers were dropped, until the server stops.
func (s *Server) releaseLoop() {
	for {
		select {
		case <-s.stop:
			return
		case <-s.release:
		}
		select {
		case <-s.stop:
			return
		case <-time.After(releaseDelay):
		}
		debug.FreeOSMemory()
	}
}
