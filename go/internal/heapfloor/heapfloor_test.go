package heapfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 800},           // nothing live yet: Go's floor, 4 MiB at 100, made Floor
		{1 << 20, 800},     // under 4 MiB live: the same
		{4 << 20, 800},     // 4 MiB live: grow by 32 MiB
		{8 << 20, 400},     // 8 MiB live: grow by 32 MiB
		{16 << 20, 200},    // 16 MiB live: grow by 32 MiB
		{Floor, 100},       // from Floor on, Go's default
		{1 << 30, 100},     // a big heap grows by as much as is live
		{Floor - 1, 100},   // just under Floor: the integer division rounds down to the default
		{Floor / 3, 300},   // a third of Floor
		{Floor/3 + 1, 299}, // rounds down: never a goal above live + Floor
	} {
		if got := Percent(tc.live); got != tc.want {
			t.Errorf("Percent(%d) = %d; want %d", tc.live, got, tc.want)
		}
	}
}

// TestKeepTunesAfterEachCollection checks that after Keep, every
// collection leaves GOGC at Percent of the live heap it found.
func TestKeepTunesAfterEachCollection(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: Keep leaves it alone")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	Keep()
	garbage := make([][]byte, 0, 48)
	for i := 0; i < 48; i++ {
		garbage = append(garbage, make([]byte, 1<<20)) // 48 MiB live: GOGC 100
	}
	runtime.GC()
	waitFor(t, func() bool { return gcPercent() == 100 })
	runtime.KeepAlive(garbage)
	garbage = nil
	runtime.GC() // a small heap again: GOGC well above 100
	waitFor(t, func() bool { return gcPercent() > 400 })
}

// gcPercent reads the current GOGC.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// waitFor polls ok, collecting meanwhile so a finalizer gets to run, for
// at most 10 s.
func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC is %d", gcPercent())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
