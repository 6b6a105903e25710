package client

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:6379": true, "127.1.2.3:1": true, "[::1]:6379": true, "localhost:6379": true,
		"10.0.0.1:6379": false, "example:6379": false, "127.0.0.1": false, `C:\x.sock`: false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v; want %v", addr, got, want)
		}
	}
}

// A dial to a closed loopback port is refused, with the option asked for
// (or, where it is not supported, without it).
func TestRefusedLoopbackDialIsRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Dial(addr, 10*time.Second)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "refused") {
		t.Fatalf("Dial(%s) of a closed port: %v; want a refusal", addr, err)
	}
}
