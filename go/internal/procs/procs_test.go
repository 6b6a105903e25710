package procs

import (
	"runtime"
	"testing"
)

func TestAtLeastTwo(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, tc := range []struct {
		env        string
		start, end int
	}{
		{"", 1, 2},  // raised
		{"", 3, 3},  // left alone
		{"1", 1, 1}, // the user's choice
	} {
		t.Setenv("GOMAXPROCS", tc.env)
		runtime.GOMAXPROCS(tc.start)
		AtLeastTwo()
		if got := runtime.GOMAXPROCS(0); got != tc.end {
			t.Errorf("GOMAXPROCS=%q, from %d: %d; want %d", tc.env, tc.start, got, tc.end)
		}
	}
}
