package store

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkMemoryPerKey reports the live heap one key with a 100-byte
// value costs, measured over 1M keys (run with -benchtime=1x), in a store
// without a memory bound and in one whose bound is never reached, which
// keeps the SIEVE queue.
func BenchmarkMemoryPerKey(b *testing.B) {
	b.Run("unbounded", func(b *testing.B) { benchmarkMemoryPerKey(b, Config{}) })
	b.Run("bounded", func(b *testing.B) { benchmarkMemoryPerKey(b, Config{MaxMemory: 1 << 40}) })
}

func benchmarkMemoryPerKey(b *testing.B, cfg Config) {
	const n = 1000000
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New(cfg)
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
