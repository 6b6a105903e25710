package store

import (
	"testing"
	"time"
)

// Redis takes any deadline whose Unix milliseconds fit in an int64; the
// store gives each back exactly, past the year 2262 too.
func TestFarDeadlinesRoundTrip(t *testing.T) {
	s, clock := newClocked()
	for _, ms := range []int64{33177117420_000, 33177117420_007, 1 << 62, maxInt64} {
		s.Set(b("k"), b("v"), SetOptions{At: time.UnixMilli(ms)})
		if at, ok, forever := s.ExpireTime(b("k")); !ok || forever || at != ms {
			t.Fatalf("Set At %d: ExpireTime = %d, %v, %v", ms, at, ok, forever)
		}
		if !s.ExpireAt(b("k"), time.UnixMilli(ms-1), IfSooner) {
			t.Fatalf("LT %d refused", ms-1)
		}
		if at, _, _ := s.ExpireTime(b("k")); at != ms-1 {
			t.Fatalf("ExpireAt %d: ExpireTime = %d", ms-1, at)
		}
	}
	clock.Advance(200 * 365 * 24 * time.Hour)
	if _, ok, _ := s.Get(b("k")); !ok {
		t.Fatal("a far deadline came")
	}
	if left, _, _ := s.TTL(b("k")); left <= 0 {
		t.Fatalf("TTL = %v", left)
	}
	if s.ExpireDue(10) != 0 {
		t.Fatal("ExpireDue removed a key due in the far future")
	}
}

// A deadline before now still deletes the key, however far back.
func TestFarPastDeadlinesDelete(t *testing.T) {
	s, _ := newClocked()
	s.Set(b("k"), b("v"), SetOptions{})
	if !s.ExpireAt(b("k"), time.UnixMilli(minInt64), 0) || s.Exists(b("k")) {
		t.Fatal("a deadline long past kept the key")
	}
}
