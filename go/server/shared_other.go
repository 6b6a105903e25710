//go:build !linux || tmc_portable

package server

import "github.com/tiny-mp-cache/tiny-mp-cache/resp"

// Values in shared memory need Linux's memfds and the epoll loop, which
// passes descriptors (shared.go); elsewhere clients keep values in the
// store's memory, sent through the socket.
func cmdSetFD(c *conn, args [][]byte, out []byte) []byte     { return noShared(out) }
func cmdGetFD(c *conn, args [][]byte, out []byte) []byte     { return noShared(out) }
func cmdStage(c *conn, args [][]byte, out []byte) []byte     { return noShared(out) }
func cmdSetStaged(c *conn, args [][]byte, out []byte) []byte { return noShared(out) }
func cmdRelease(c *conn, args [][]byte, out []byte) []byte   { return noShared(out) }

// slabPool: no shared values, no slabs (slabs.go).
type slabPool struct{}

func (p *slabPool) close()                  {}
func (p *slabPool) setKeep(maxMemory int64) {}
func (p *slabPool) stats() (used, free int) { return 0, 0 }

// cmdGetOrSize is TMC.GET and TMC.GETDEL: no value is ever shared here.
func cmdGetOrSize(c *conn, args [][]byte, out []byte) []byte {
	if len(args[0]) > len("tmc.get") {
		return cmdGetDel(c, args, out)
	}
	return cmdGet(c, args, out)
}

func noShared(out []byte) []byte {
	return resp.AppendError(out, "ERR shared values need Linux and its epoll loop (not macOS, Windows or -tags tmc_portable)")
}
