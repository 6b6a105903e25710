//go:build !linux || tmc_portable

package server

import "testing"

// INFO names the loop that serves, so a test run can tell which it checks.
func TestInfoNamesTheLoop(t *testing.T) {
	testInfoNamesTheLoop(t, "goroutines")
}
