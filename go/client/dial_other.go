//go:build !windows

package client

import "syscall"

// dialControl is nil: elsewhere a refused connect fails at once (see dial_windows.go).
var dialControl func(network, address string, c syscall.RawConn) error
