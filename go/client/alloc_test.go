package client

import (
	"net"
	"testing"
	"time"
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
