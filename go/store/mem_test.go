package store

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkMemoryPerKey reports the live heap one key with a 100-byte
// value costs, measured over 1M keys (run with -benchtime=1x).
func BenchmarkMemoryPerKey(b *testing.B) {
	const n = 1000000
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New(Config{})
		v := make([]byte, 100)
		for i := 0; i < n; i++ {
			s.Set([]byte(fmt.Sprintf("key:%08d", i)), v, SetOptions{})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/key")
		runtime.KeepAlive(s)
	}
}
