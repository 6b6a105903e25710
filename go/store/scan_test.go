package store

import (
	"fmt"
	"testing"
	"time"
)

// scanAll runs a whole SCAN iteration and counts how often each key comes
// back. between runs after each call. It fails the test if the scan does not
// end within maxCalls calls.
func scanAll(t *testing.T, s *Store, pattern string, count, maxCalls int, between func(call int)) map[string]int {
	t.Helper()
	seen := map[string]int{}
	cursor := uint64(0)
	for call := 1; ; call++ {
		var keys []string
		cursor, keys = s.Scan(cursor, pattern, count)
		for _, k := range keys {
			seen[k]++
		}
		if cursor == 0 {
			return seen
		}
		if call == maxCalls {
			t.Fatalf("scan of %q not done after %d calls", pattern, call)
		}
		if between != nil {
			between(call)
		}
	}
}

func fill(s *Store, prefix string, n int) {
	for i := 0; i < n; i++ {
		s.Set(b(fmt.Sprint(prefix, i)), b("v"), SetOptions{})
	}
}

func wantEachOnce(t *testing.T, seen map[string]int, prefix string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if k := fmt.Sprint(prefix, i); seen[k] != 1 {
			t.Errorf("%s returned %d times; want once", k, seen[k])
		}
	}
}

// TestScanCursorsAreStateless: cursors used to be server state, remembered
// for the last 1024 calls of any client. After another client's 1,100 SCAN
// calls a scan's cursor was forgotten, the scan started over and returned
// keys twice. A cursor now carries the whole position.
func TestScanCursorsAreStateless(t *testing.T) {
	s := New(Config{})
	fill(s, "k", 100)
	seen := scanAll(t, s, "*", 10, 100, func(call int) {
		if call == 2 {
			for i := 0; i < 1100; i++ { // another client scanning meanwhile
				s.Scan(0, "*", 10)
			}
		}
	})
	if len(seen) != 100 {
		t.Errorf("scan returned %d distinct keys; want 100", len(seen))
	}
	wantEachOnce(t, seen, "k", 100)
}

// TestScanEndsWithManyScanners: many scans interleaved, call by call, each
// end with every key exactly once.
func TestScanEndsWithManyScanners(t *testing.T) {
	s := New(Config{})
	fill(s, "k", 100)
	const scanners = 1100 // more than the 1024 cursors once remembered
	cursors := make([]uint64, scanners)
	seen := make([]map[string]int, scanners)
	for i := range seen {
		seen[i] = map[string]int{}
	}
	done := 0
	for round := 0; done < scanners; round++ {
		if round == 100 {
			t.Fatalf("%d of %d scans not done after %d rounds", scanners-done, scanners, round)
		}
		for i := range cursors {
			if cursors[i] == 0 && round > 0 {
				continue
			}
			var keys []string
			cursors[i], keys = s.Scan(cursors[i], "k*", 10)
			for _, k := range keys {
				seen[i][k]++
			}
			if cursors[i] == 0 {
				done++
			}
		}
	}
	for i := range seen {
		wantEachOnce(t, seen[i], "k", 100)
	}
}

// TestScanWhileKeysChange: keys present for the whole scan come back
// exactly once, whatever is added and removed meanwhile, and the scan ends.
func TestScanWhileKeysChange(t *testing.T) {
	s := New(Config{})
	fill(s, "stay", 500)
	fill(s, "go", 500)
	added := 0
	seen := scanAll(t, s, "*", 7, 10000, func(call int) {
		s.Del(b(fmt.Sprint("go", call)))
		for i := 0; i < 5; i++ { // the keyspace grows faster than the scan
			s.Set(b(fmt.Sprint("new", added)), b("v"), SetOptions{})
			added++
		}
	})
	wantEachOnce(t, seen, "stay", 500)
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s returned %d times", k, n)
		}
	}
}

// TestScanBoundsWorkPerCall: a SCAN call examines at most about 10*COUNT
// keys, however few match: it may return no keys with a cursor to go on.
// It once walked the whole keyspace for a MATCH with few matches.
func TestScanBoundsWorkPerCall(t *testing.T) {
	s := New(Config{})
	const n = 5000
	fill(s, "k", n)
	s.Set(b("needle"), b("v"), SetOptions{})
	cursor, keys := s.Scan(0, "*needle", 10)
	if cursor == 0 {
		t.Fatalf("one call with MATCH *needle examined all %d keys (returned %q)", n, keys)
	}
	// The whole scan still finds it, in about n/(10*COUNT) calls.
	seen := scanAll(t, s, "*needle", 10, n/100+50, nil)
	if len(seen) != 1 || seen["needle"] != 1 {
		t.Fatalf("scan found %v; want needle once", seen)
	}
}

// TestScanPrefixOfFewKeys: a pattern whose literal prefix few keys have is
// answered from the ordered index, in one call, however big the keyspace.
func TestScanPrefixOfFewKeys(t *testing.T) {
	s := New(Config{})
	fill(s, "other:", 5000)
	fill(s, "job:", 30)
	cursor, keys := s.Scan(0, "job:*", 100)
	if cursor != 0 || len(keys) != 30 {
		t.Fatalf("Scan(job:*, 100) = %d, %d keys; want 0, 30", cursor, len(keys))
	}
	// With a small COUNT it takes several calls, each key once.
	seen := scanAll(t, s, "job:1*", 2, 20, nil)
	if len(seen) != 11 {
		t.Fatalf("job:1* found %v", seen)
	}
	// A prefix too many keys share falls back to the bounded walk.
	seen = scanAll(t, s, "other:1*", 10, 1111/10+50, nil)
	if len(seen) != 1111 {
		t.Fatalf("other:1* found %d keys; want 1111", len(seen))
	}
}

// TestScanClashingKeys: keys whose hashes clash come back together, each
// once, whatever the COUNT.
func TestScanClashingKeys(t *testing.T) {
	s := New(Config{})
	s.entries.mask = 0xf // 16 hashes for 200 keys
	fill(s, "k", 200)
	for _, pattern := range []string{"*", "k*"} {
		for _, count := range []int{1, 3, 1000} {
			wantEachOnce(t, scanAll(t, s, pattern, count, 1000, nil), "k", 200)
		}
	}
	for i := 0; i < 200; i += 2 {
		s.Del(b(fmt.Sprint("k", i)))
	}
	seen := scanAll(t, s, "*", 5, 1000, nil)
	if len(seen) != 100 {
		t.Fatalf("after deleting half: %d keys", len(seen))
	}
	if n, want := s.entries.hashes.Len(), len(s.entries.byHash); n != want {
		t.Fatalf("%d ordered hashes for %d hashes in use", n, want)
	}
	s.Flush()
	if n := s.entries.hashes.Len(); n != 0 {
		t.Fatalf("%d ordered hashes after Flush", n)
	}
}

// TestScanLiteralPattern: a pattern without wildcards names one key.
func TestScanLiteralPattern(t *testing.T) {
	s := New(Config{})
	fill(s, "k", 1000)
	if cursor, keys := s.Scan(0, "k500", 10); cursor != 0 || len(keys) != 1 || keys[0] != "k500" {
		t.Fatalf("Scan(k500) = %d, %q", cursor, keys)
	}
	if cursor, keys := s.Scan(0, "nope", 10); cursor != 0 || len(keys) != 0 {
		t.Fatalf("Scan(nope) = %d, %q", cursor, keys)
	}
}

// TestScanSkipsExpiredKeys: expired keys not yet reclaimed are not listed.
func TestScanSkipsExpiredKeys(t *testing.T) {
	now := time.Unix(1000, 0)
	s := New(Config{Now: func() time.Time { return now }})
	fill(s, "k", 50)
	for i := 0; i < 50; i += 5 {
		s.Expire(b(fmt.Sprint("k", i)), time.Second)
	}
	now = now.Add(2 * time.Second)
	for _, pattern := range []string{"*", "k*"} {
		if seen := scanAll(t, s, pattern, 10, 100, nil); len(seen) != 40 {
			t.Fatalf("%s: %d keys; want 40", pattern, len(seen))
		}
	}
}
