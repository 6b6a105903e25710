package client

import "testing"

// Only a loopback address gets dialControl's option (TestDialRefused checks
// that a refused loopback dial still fails at once).
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
