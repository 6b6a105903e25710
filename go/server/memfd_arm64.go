//go:build linux && !tmc_portable

package server

const sysMemfdCreate = 279 // package syscall does not have it
