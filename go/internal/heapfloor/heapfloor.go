// Package heapfloor keeps Go's collector from running before garbage worth
// a cycle has piled up: as much as is live (Go's default, GOGC=100), but
// never less than Floor.
//
// Go's own floor is 4 MiB. A cache server that holds a few megabytes while
// clients churn values through it, as the latency benchmark does with
// 10 KiB values, then runs a collection every few hundred SETs, and each
// one costs the requests around it: the event loop assists the marking,
// refills its allocation caches from spans still to be swept, and faults
// in again the pages the scavenger has meanwhile given back.
package heapfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Floor is the least the heap grows by between two collections. It is
// memory a small server may hold as garbage; a server whose live heap is
// bigger than Floor runs as with Go's default. With max_memory set, the
// memory limit leaves room for it (memoryLimitSlack in package server).
const Floor = 32 << 20

var once sync.Once

// Keep sets GOGC after every collection, from then on, so that the next
// one starts once the heap has grown by the larger of the live heap and
// Floor. A memory limit (debug.SetMemoryLimit, as max_memory sets) still
// applies: near it the collector runs sooner. Keep does nothing if the
// GOGC environment variable is set: the user's choice stands.
func Keep() {
	if os.Getenv("GOGC") != "" {
		return
	}
	once.Do(func() {
		tune()
		arm()
	})
}

// Percent is the GOGC that puts the next collection's goal at live plus
// the larger of live and Floor.
//
// Go's own floor grows with GOGC (4 MiB at 100), so for a live heap under
// 4 MiB the goal is that floor: Percent stops at the GOGC that makes it
// Floor.
func Percent(live uint64) int {
	const most = Floor / goFloor * 100
	if live >= Floor {
		return 100
	}
	return int(min(Floor*100/max(live, 1), most))
}

// goFloor is the Go runtime's least heap goal at GOGC=100.
const goFloor = 4 << 20

// current is the GOGC tune last set; only tune uses it, and tune runs on
// one goroutine at a time (first Keep's, then the finalizers').
var current = 100

// tune sets GOGC from the live heap the last collection found.
func tune() {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return // a runtime without the metric: keep Go's default
	}
	if p := Percent(sample[0].Value.Uint64()); p != current {
		debug.SetGCPercent(p)
		current = p
	}
}

// token is what arm lets go of. It is bigger than 16 bytes so that it is
// not a tiny allocation, whose finalizer may never run.
type token struct{ _ [32]byte }

// arm has tune run after the next collection: that collection frees a
// token whose finalizer calls tune and arms again.
func arm() {
	runtime.SetFinalizer(new(token), func(*token) {
		tune()
		arm()
	})
}
