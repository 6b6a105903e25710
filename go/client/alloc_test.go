//go:build linux && !tmc_portable

// The portable build (macOS, Windows; -tags tmc_portable on Linux) talks
// through net.Conn and allocates on every call (measured: once per GET or
// SET, twice per 2 MiB SET); these tests hold the Linux path, which reads
// and writes the socket itself, to zero.

package client

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
)

// A GET into the caller's memory and a SET allocate nothing in Go: every
// allocation on the call path is garbage the collector must later wake
// threads for, inside the caller's process (the C API's every call).
func TestCallsDoNotAllocate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // answers each request with the reply of its command: SET's or GET's
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		ok, value := []byte("+OK\r\n"), []byte("$5\r\nhello\r\n")
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			reply := value
			if n > 8 && buf[8] == 'S' { // "*3\r\n$3\r\nSET..."
				reply = ok
			}
			if _, err := c.Write(reply); err != nil {
				return
			}
		}
	}()
	c, err := Dial(ln.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mine [64]byte
	alloc := func(n int) []byte { return mine[:n] }
	key, val := []byte("k"), []byte("hello")
	for name, call := range map[string]func() error{
		"GetIn": func() error { _, _, err := c.GetIn(key, alloc); return err },
		"Set":   func() error { return c.Set(key, val) },
	} {
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := testing.AllocsPerRun(20, func() { call() }); n != 0 {
			t.Errorf("%s allocates %v times per call; want 0", name, n)
		}
	}
}

// A big value is written from the caller's memory: a SET of 2 MiB makes
// no copy of it in Go, where it would cost a buffer of its size per call.
func TestBigSetIsNotCopied(t *testing.T) {
	value := make([]byte, 2<<20)
	request := len(resp.AppendCommand(nil, []byte("SET"), []byte("k"), value))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // reads each whole request, then says OK
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf, ok := make([]byte, request), []byte("+OK\r\n")
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(ok); err != nil {
				return
			}
		}
	}()
	c, err := Dial(ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set([]byte("k"), value); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(5, func() { c.Set([]byte("k"), value) }); n != 0 {
		t.Errorf("a 2 MiB Set allocates %v times per call; want 0", n)
	}
}
