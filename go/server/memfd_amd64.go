//go:build linux && !tmc_portable

package server

const sysMemfdCreate = 319 // package syscall does not have it
