package store

import (
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable clock, so TTL tests never sleep.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClocked() (*Store, *fakeClock) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	return New(Config{Now: clock.Now}), clock
}

func b(s string) []byte { return []byte(s) }

func TestTTLExpiresLazily(t *testing.T) {
	s, clock := newClocked()
	s.Set(b("k"), b("v"), SetOptions{TTL: 10 * time.Second})
	if left, ok, forever := s.TTL(b("k")); !ok || forever || left != 10*time.Second {
		t.Fatalf("TTL = %v %v %v; want 10s", left, ok, forever)
	}
	clock.Advance(9999 * time.Millisecond)
	if _, ok, _ := s.Get(b("k")); !ok {
		t.Fatal("key gone before its deadline")
	}
	clock.Advance(time.Millisecond)
	if _, ok, _ := s.Get(b("k")); ok {
		t.Fatal("expired key returned by Get")
	}
	if s.Len() != 0 || s.Stats().Expirations != 1 {
		t.Fatalf("Len %d, expirations %d; want 0, 1", s.Len(), s.Stats().Expirations)
	}
}

func TestExpiredKeyNeverReturned(t *testing.T) {
	s, clock := newClocked()
	s.Set(b("k"), b("v"), SetOptions{TTL: time.Second})
	s.Push(b("l"), [][]byte{b("x")}, false)
	s.Expire(b("l"), time.Second)
	clock.Advance(time.Second)
	if got := s.Keys("*"); len(got) != 0 {
		t.Fatalf("Keys = %q", got)
	}
	if _, keys := s.Scan(0, "*", 10); len(keys) != 0 {
		t.Fatalf("Scan = %q", keys)
	}
	if s.Exists(b("k")) || s.Type(b("k")) != "none" {
		t.Fatal("Exists/Type see an expired key")
	}
	if v := s.MGet([][]byte{b("k")}); v[0] != nil {
		t.Fatal("MGet returned an expired value")
	}
	if n, _ := s.LLen(b("l")); n != 0 {
		t.Fatal("expired list still has a length")
	}
	if _, ok, _ := s.GetDel(b("k")); ok {
		t.Fatal("GetDel returned an expired value")
	}
}

func TestExpireDueVisitsOnlyDueKeys(t *testing.T) {
	s, clock := newClocked()
	for i := 0; i < 1000; i++ {
		s.Set(b(fmt.Sprint("forever:", i)), b("v"), SetOptions{})
	}
	for i := 0; i < 100; i++ {
		s.Set(b(fmt.Sprint("short:", i)), b("v"), SetOptions{TTL: time.Duration(i+1) * time.Second})
	}
	clock.Advance(50 * time.Second)
	if n := s.ExpireDue(30); n != 30 {
		t.Fatalf("ExpireDue(30) = %d; want the bound, 30", n)
	}
	if n := s.ExpireDue(1000); n != 20 {
		t.Fatalf("ExpireDue = %d; want the remaining 20 due keys", n)
	}
	if n := s.ExpireDue(1000); n != 0 {
		t.Fatalf("ExpireDue with nothing due = %d", n)
	}
	if got := s.Len(); got != 1050 {
		t.Fatalf("Len = %d; want 1050", got)
	}
}

func TestPersistAndOverwriteClearTTL(t *testing.T) {
	s, clock := newClocked()
	s.Set(b("a"), b("v"), SetOptions{TTL: time.Second})
	if !s.Persist(b("a")) || s.Persist(b("a")) {
		t.Fatal("Persist should succeed once")
	}
	s.Set(b("b"), b("v"), SetOptions{TTL: time.Second})
	s.Set(b("b"), b("w"), SetOptions{}) // a plain SET drops the TTL
	s.Set(b("c"), b("v"), SetOptions{TTL: time.Second})
	s.Set(b("c"), b("w"), SetOptions{KeepTTL: true})
	clock.Advance(2 * time.Second)
	for k, want := range map[string]bool{"a": true, "b": true, "c": false} {
		if s.Exists(b(k)) != want {
			t.Errorf("Exists(%s) = %v; want %v", k, !want, want)
		}
	}
	if s.Expire(b("a"), 0); s.Exists(b("a")) {
		t.Fatal("Expire with a zero TTL should delete")
	}
}

func TestSetNXXX(t *testing.T) {
	s := New(Config{})
	if ok, _ := s.Set(b("k"), b("1"), SetOptions{XX: true}); ok || s.Exists(b("k")) {
		t.Fatal("XX set a missing key")
	}
	if ok, _ := s.Set(b("k"), b("1"), SetOptions{NX: true}); !ok {
		t.Fatal("NX did not set a missing key")
	}
	if ok, _ := s.Set(b("k"), b("2"), SetOptions{NX: true}); ok {
		t.Fatal("NX overwrote")
	}
	if ok, _ := s.Set(b("k"), b("3"), SetOptions{XX: true}); !ok {
		t.Fatal("XX did not overwrite")
	}
	if v, _, _ := s.Get(b("k")); string(v) != "3" {
		t.Fatalf("value %q; want 3", v)
	}
}

func TestIncrBy(t *testing.T) {
	s := New(Config{})
	for _, tc := range []struct {
		delta int64
		want  int64
	}{{1, 1}, {41, 42}, {-50, -8}} {
		if n, err := s.IncrBy(b("n"), tc.delta); err != nil || n != tc.want {
			t.Fatalf("IncrBy(%d) = %d, %v; want %d", tc.delta, n, err, tc.want)
		}
	}
	s.Set(b("s"), b("abc"), SetOptions{})
	if _, err := s.IncrBy(b("s"), 1); err != ErrNotInteger {
		t.Fatalf("IncrBy on text: %v", err)
	}
	s.Set(b("max"), b(fmt.Sprint(int64(math.MaxInt64))), SetOptions{})
	if _, err := s.IncrBy(b("max"), 1); err == nil {
		t.Fatal("overflow not reported")
	}
	s.Push(b("l"), [][]byte{b("x")}, true)
	if _, err := s.IncrBy(b("l"), 1); err != ErrWrongType {
		t.Fatalf("IncrBy on a list: %v", err)
	}
}

func TestListsAndTypes(t *testing.T) {
	s := New(Config{})
	if n, _ := s.Push(b("q"), [][]byte{b("a"), b("b")}, false); n != 2 {
		t.Fatalf("RPUSH length %d", n)
	}
	if n, _ := s.Push(b("q"), [][]byte{b("z")}, true); n != 3 {
		t.Fatalf("LPUSH length %d", n)
	}
	if got, _ := s.LRange(b("q"), 0, -1); !reflect.DeepEqual(got, [][]byte{b("z"), b("a"), b("b")}) {
		t.Fatalf("LRANGE = %q", got)
	}
	if got, _ := s.Pop(b("q"), false, 1); string(got[0]) != "b" {
		t.Fatalf("RPOP = %q", got)
	}
	if got, _ := s.Pop(b("q"), true, 5); !reflect.DeepEqual(got, [][]byte{b("z"), b("a")}) {
		t.Fatalf("LPOP 5 = %q", got)
	}
	if s.Exists(b("q")) {
		t.Fatal("an emptied list should be deleted")
	}
	s.Set(b("str"), b("v"), SetOptions{})
	if _, err := s.Push(b("str"), [][]byte{b("x")}, true); err != ErrWrongType {
		t.Fatalf("LPUSH on a string: %v", err)
	}
	s.Push(b("l"), [][]byte{b("x")}, true)
	if _, _, err := s.Get(b("l")); err != ErrWrongType {
		t.Fatalf("GET on a list: %v", err)
	}
	if s.Type(b("l")) != "list" || s.Type(b("str")) != "string" || s.Type(b("none")) != "none" {
		t.Fatal("wrong TYPE")
	}
}

func TestBPopWakesExactlyOneWaiter(t *testing.T) {
	s := New(Config{})
	var ws []*Waiter
	for i := 0; i < 3; i++ {
		p, w, err := s.BPop([][]byte{b("q")}, true, nil)
		if p != nil || w == nil || err != nil {
			t.Fatalf("BPop on an empty list: %v %v %v", p, w, err)
		}
		ws = append(ws, w)
	}
	s.Push(b("q"), [][]byte{b("job1"), b("job2")}, false)
	s.ServeReady() // as the server does once a command is done
	for i, want := range []string{"job1", "job2"} {
		select {
		case p := <-ws[i].C:
			if p.Value == nil || string(p.Value) != want {
				t.Fatalf("waiter %d got %q; want %q", i, p.Value, want)
			}
		default:
			t.Fatalf("waiter %d not woken", i)
		}
	}
	select {
	case p := <-ws[2].C:
		t.Fatalf("third waiter got %q with nothing left", p.Value)
	default:
	}
	s.Cancel(ws[2])
	if s.Exists(b("q")) {
		t.Fatal("values went to the list as well as to waiters")
	}
}

func TestCancelAfterDeliveryPutsValueBack(t *testing.T) {
	s := New(Config{})
	_, w, _ := s.BPop([][]byte{b("a"), b("q")}, true, nil)
	s.Push(b("q"), [][]byte{b("job")}, false)
	s.ServeReady() // as the server does once a command is done
	s.Cancel(w)    // the client went away before it could receive
	if got, _ := s.Pop(b("q"), true, 1); len(got) != 1 || string(got[0]) != "job" {
		t.Fatalf("value not put back: %q", got)
	}
	// The waiter is gone from the other key too.
	s.Push(b("a"), [][]byte{b("x")}, false)
	s.ServeReady()
	if n, _ := s.LLen(b("a")); n != 1 {
		t.Fatalf("a cancelled waiter took a value")
	}
}

func TestScanCoversEveryKeyOnce(t *testing.T) {
	s := New(Config{})
	for i := 0; i < 250; i++ {
		s.Set(b(fmt.Sprint("k", i)), b("v"), SetOptions{})
	}
	seen := map[string]int{}
	cursor := uint64(0)
	for rounds := 0; ; rounds++ {
		var keys []string
		cursor, keys = s.Scan(cursor, "k*", 10)
		for _, k := range keys {
			seen[k]++
		}
		if rounds == 5 {
			s.Del(b("k200")) // changes during the scan don't disturb it
			s.Set(b("new"), b("v"), SetOptions{})
		}
		if cursor == 0 {
			break
		}
		if rounds > 100 {
			t.Fatal("scan does not end")
		}
	}
	for i := 0; i < 250; i++ {
		k := fmt.Sprint("k", i)
		if k != "k200" && seen[k] != 1 {
			t.Fatalf("%s seen %d times", k, seen[k])
		}
	}
}

func TestMGetMSet(t *testing.T) {
	s := New(Config{})
	s.MSet([][]byte{b("a"), b("1"), b("b"), b("2")})
	s.Push(b("l"), [][]byte{b("x")}, true)
	got := s.MGet([][]byte{b("a"), b("nope"), b("b"), b("l")})
	if !reflect.DeepEqual(got, [][]byte{b("1"), nil, b("2"), nil}) {
		t.Fatalf("MGET = %q", got)
	}
}

func TestMemoryAccounting(t *testing.T) {
	s := New(Config{})
	s.Set(b("key"), make([]byte, 1000), SetOptions{})
	want := int64(entryOverhead + 3 + 1000)
	if got := s.Stats().UsedMemory; got != want {
		t.Fatalf("used %d; want %d", got, want)
	}
	s.Set(b("key"), make([]byte, 10), SetOptions{})
	if got := s.Stats().UsedMemory; got != want-990 {
		t.Fatalf("after shrinking: used %d; want %d", got, want-990)
	}
	s.Push(b("l"), [][]byte{make([]byte, 100)}, true)
	s.Del(b("key"))
	s.Pop(b("l"), true, 1)
	if got := s.Stats().UsedMemory; got != 0 {
		t.Fatalf("empty store accounts %d bytes", got)
	}
}

func TestNoEvictRefusesWrites(t *testing.T) {
	s := New(Config{MaxMemory: 10 * (entryOverhead + 100), NoEvict: true})
	var err error
	i := 0
	for ; err == nil && i < 100; i++ {
		_, err = s.Set(b(fmt.Sprintf("k%02d", i)), make([]byte, 90), SetOptions{})
	}
	if err != ErrOOM {
		t.Fatalf("err = %v; want ErrOOM", err)
	}
	if st := s.Stats(); st.UsedMemory > st.MaxMemory || st.Evictions != 0 {
		t.Fatalf("used %d of %d, %d evictions", st.UsedMemory, st.MaxMemory, st.Evictions)
	}
	if !s.Del(b("k00")) {
		t.Fatal("reads and deletes must still work")
	}
}

func TestSieveKeepsHotKeys(t *testing.T) {
	const size = entryOverhead + 2 + 10
	s := New(Config{MaxMemory: 100 * size})
	hot := [][]byte{b("h0"), b("h1"), b("h2")}
	for _, k := range hot {
		s.Set(k, make([]byte, 10), SetOptions{})
	}
	for i := 0; i < 1000; i++ {
		for _, k := range hot {
			s.Get(k) // marks them visited
		}
		s.Set(b(fmt.Sprintf("c%d", i)), make([]byte, 10-len(fmt.Sprint(i))+1), SetOptions{})
	}
	st := s.Stats()
	if st.UsedMemory > st.MaxMemory {
		t.Fatalf("used %d over the bound %d", st.UsedMemory, st.MaxMemory)
	}
	if st.Evictions == 0 {
		t.Fatal("nothing was evicted")
	}
	for _, k := range hot {
		if !s.Exists(k) {
			t.Fatalf("hot key %s was evicted", k)
		}
	}
}

// TestSieveHitRatioOnZipf replays a skewed trace. A cache holding 10% of
// the keys gets 0.64 under FIFO (SIEVE with its marks disabled) and 0.74
// under SIEVE here.
func TestSieveHitRatioOnZipf(t *testing.T) {
	const keys, cacheKeys = 10000, 1000
	size := int64(entryOverhead + 6 + 10)
	s := New(Config{MaxMemory: cacheKeys * size})
	rng := rand.New(rand.NewSource(1))
	zipf := rand.NewZipf(rng, 1.01, 1, keys-1)
	var hits, total int
	for i := 0; i < 200000; i++ {
		k := b(fmt.Sprintf("%06d", zipf.Uint64()))
		total++
		if _, ok, _ := s.Get(k); ok {
			hits++
		} else {
			s.Set(k, make([]byte, 10), SetOptions{})
		}
	}
	ratio := float64(hits) / float64(total)
	t.Logf("SIEVE hit ratio on Zipf(1.01), cache = 10%% of keys: %.3f", ratio)
	if ratio < 0.70 {
		t.Fatalf("hit ratio %.3f; FIFO gets 0.64 and SIEVE 0.74 here", ratio)
	}
}

func TestConcurrentMixedOps(t *testing.T) {
	s, clock := newClocked()
	s.cfg.MaxMemory = 500 * (entryOverhead + 20)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				k := b(fmt.Sprint("k", (g*7+i)%300))
				switch i % 7 {
				case 0:
					s.Set(k, b("v"), SetOptions{TTL: time.Second})
				case 1:
					s.Get(k)
				case 2:
					s.Push(b(fmt.Sprint("l", i%5)), [][]byte{b("x")}, true)
				case 3:
					s.Pop(b(fmt.Sprint("l", i%5)), false, 1)
				case 4:
					s.ExpireDue(10)
				case 5:
					clock.Advance(time.Millisecond)
				case 6:
					s.Keys("k1*")
				}
			}
		}(g)
	}
	wg.Wait()
	st := s.Stats()
	if st.UsedMemory > st.MaxMemory || st.UsedMemory < 0 {
		t.Fatalf("used %d, bound %d", st.UsedMemory, st.MaxMemory)
	}
}

// Pushes only mark their key: waiters are served by ServeReady, from the
// lists as they are then, so a waiter sees a whole command's (or
// transaction's) work, never a part of it.
func TestPushesServeWaitersOnlyAtServeReady(t *testing.T) {
	s := New(Config{})
	_, w, _ := s.BPop([][]byte{b("q")}, true, nil)
	s.Push(b("q"), [][]byte{b("a")}, true)
	s.Push(b("q"), [][]byte{b("b")}, true)
	if len(w.C) != 0 {
		t.Fatal("a push served the waiter before ServeReady")
	}
	s.ServeReady()
	if p := <-w.C; string(p.Value) != "b" {
		t.Fatalf("waiter got %q; want the head the pushes left, b", p.Value)
	}
	_, w, _ = s.BPop([][]byte{b("gone")}, true, nil)
	s.Push(b("gone"), [][]byte{b("x")}, true)
	s.Del(b("gone"))
	s.ServeReady()
	if len(w.C) != 0 {
		t.Fatal("a key deleted before ServeReady served its waiter")
	}
	s.Cancel(w)
}
