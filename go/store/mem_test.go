package store

import (
	"fmt"
	"runtime"
	"testing"
)

func TestMemPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := New(Config{})
	v := make([]byte, 100)
	for i := 0; i < 1000000; i++ {
		s.Set([]byte(fmt.Sprintf("key:%08d", i)), v, SetOptions{})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("live heap per key: %d B", (after.HeapAlloc-before.HeapAlloc)/1000000)
	runtime.KeepAlive(s)
}
