package store

import (
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"
)

func fieldMap(fs []Field) map[string]string {
	m := make(map[string]string, len(fs))
	for _, f := range fs {
		m[f.Name] = string(f.Value)
	}
	return m
}

func TestHashFieldsAndValues(t *testing.T) {
	s := New(Config{})
	if n, err := s.HSet(b("h"), [][]byte{b("a"), b("1"), b("b"), b("2"), b("a"), b("3")}, false); n != 2 || err != nil {
		t.Fatalf("HSet = %d, %v; want 2 new fields (a given twice)", n, err)
	}
	if v, ok, _ := s.HGet(b("h"), b("a")); !ok || string(v) != "3" {
		t.Fatalf("HGet a = %q, %v; want the last value given, 3", v, ok)
	}
	if n, _ := s.HSet(b("h"), [][]byte{b("a"), b("x"), b("c"), b("")}, true); n != 1 {
		t.Fatalf("HSet nx = %d; want 1 (c only)", n)
	}
	if v, ok, _ := s.HGet(b("h"), b("c")); !ok || v == nil || len(v) != 0 {
		t.Fatalf("an empty value must be present, not missing: %q, %v", v, ok)
	}
	got, _ := s.HMGet(b("h"), [][]byte{b("a"), b("nope"), b("c")})
	if !reflect.DeepEqual(got, [][]byte{b("3"), nil, {}}) {
		t.Fatalf("HMGet = %q", got)
	}
	all, _ := s.HGetAll(b("h"))
	if want := map[string]string{"a": "3", "b": "2", "c": ""}; !reflect.DeepEqual(fieldMap(all), want) {
		t.Fatalf("HGetAll = %v; want %v", fieldMap(all), want)
	}
	if n, _ := s.HLen(b("h")); n != 3 {
		t.Fatalf("HLen = %d", n)
	}
	if n, _ := s.HDel(b("h"), [][]byte{b("a"), b("a"), b("nope")}); n != 1 {
		t.Fatalf("HDel = %d; want 1", n)
	}
	if s.Type(b("h")) != "hash" {
		t.Fatalf("Type = %q", s.Type(b("h")))
	}
	s.HDel(b("h"), [][]byte{b("b"), b("c")})
	if s.Exists(b("h")) || s.Stats().UsedMemory != 0 {
		t.Fatalf("an emptied hash must be deleted, and its memory given back (%d)", s.Stats().UsedMemory)
	}
}

func TestHashWrongType(t *testing.T) {
	s := New(Config{})
	s.Set(b("str"), b("x"), SetOptions{})
	s.Push(b("list"), [][]byte{b("x")}, true)
	s.HSet(b("h"), [][]byte{b("f"), b("v")}, false)
	for _, key := range []string{"str", "list"} {
		k := b(key)
		if _, err := s.HSet(k, [][]byte{b("f"), b("v")}, false); err != ErrWrongType {
			t.Errorf("HSet on a %s: %v", key, err)
		}
		if _, _, err := s.HGet(k, b("f")); err != ErrWrongType {
			t.Errorf("HGet on a %s: %v", key, err)
		}
		if _, err := s.HIncrBy(k, b("f"), 1); err != ErrWrongType {
			t.Errorf("HIncrBy on a %s: %v", key, err)
		}
	}
	if _, _, err := s.Get(b("h")); err != ErrWrongType {
		t.Errorf("Get on a hash: %v", err)
	}
	if _, err := s.Push(b("h"), [][]byte{b("x")}, true); err != ErrWrongType {
		t.Errorf("Push on a hash: %v", err)
	}
	if _, err := s.SAdd(b("h"), [][]byte{b("x")}); err != ErrWrongType {
		t.Errorf("SAdd on a hash: %v", err)
	}
}

func TestHashIncrements(t *testing.T) {
	s := New(Config{})
	if n, err := s.HIncrBy(b("h"), b("n"), 5); n != 5 || err != nil {
		t.Fatalf("HIncrBy on nothing = %d, %v", n, err)
	}
	if n, _ := s.HIncrBy(b("h"), b("n"), -7); n != -2 {
		t.Fatalf("HIncrBy = %d; want -2", n)
	}
	s.HSet(b("h"), [][]byte{b("s"), b("abc"), b("max"), b("9223372036854775807"), b("f"), b("1.5")}, false)
	for _, tc := range []struct {
		field string
		delta int64
		want  error
	}{{"s", 1, ErrHashNotInteger}, {"f", 1, ErrHashNotInteger}, {"max", 1, ErrOverflow}} {
		if _, err := s.HIncrBy(b("h"), b(tc.field), tc.delta); err != tc.want {
			t.Errorf("HIncrBy %s: %v; want %v", tc.field, err, tc.want)
		}
	}
	if _, err := s.HIncrBy(b("new"), b("x"), 1); err != nil || !s.Exists(b("new")) {
		t.Fatal(err)
	}
	s.Del(b("new"))
	s.Set(b("new"), b("x"), SetOptions{})
	for _, tc := range []struct{ field, incr, want string }{
		{"z", "0.1", "0.1"}, {"z", "0.2", "0.3"}, {"n", "1.5", "-0.5"}, {"f", "1e2", "101.5"},
	} {
		if v, err := s.HIncrByFloat(b("h"), b(tc.field), b(tc.incr)); string(v) != tc.want || err != nil {
			t.Errorf("HIncrByFloat %s %s = %q, %v; want %s", tc.field, tc.incr, v, err, tc.want)
		}
	}
	for _, tc := range []struct {
		field, incr string
		want        error
	}{{"s", "1", ErrHashNotFloat}, {"z", "abc", ErrNotFloat}, {"z", "inf", ErrNaNOrInfinity}, {"z", "1e4932", nil}, {"z", "1e4932", ErrFloatResult}} {
		if _, err := s.HIncrByFloat(b("h"), b(tc.field), b(tc.incr)); err != tc.want {
			t.Errorf("HIncrByFloat %s %s: %v; want %v", tc.field, tc.incr, err, tc.want)
		}
	}
	// A refused increment on an absent key creates nothing.
	if _, err := s.HIncrByFloat(b("none"), b("f"), b("x")); err != ErrNotFloat || s.Exists(b("none")) {
		t.Fatalf("%v, exists %v", err, s.Exists(b("none")))
	}
}

// randFields collects HRandField's picks, checking the total each is told.
func randFields(t *testing.T, s *Store, key string, count int, repeat bool) ([]Field, error) {
	var got []Field
	err := s.HRandField(b(key), count, repeat, func(total int, f Field) bool {
		got = append(got, f)
		if total < len(got) {
			t.Fatalf("told %d picks, given %d", total, len(got))
		}
		return true
	})
	return got, err
}

func TestHRandField(t *testing.T) {
	s := New(Config{})
	if got, err := randFields(t, s, "none", 3, false); got != nil || err != nil {
		t.Fatalf("absent key: %v, %v", got, err)
	}
	want := map[string]string{}
	var pairs [][]byte
	for i := range 10 {
		f, v := fmt.Sprintf("f%d", i), fmt.Sprintf("v%d", i)
		want[f] = v
		pairs = append(pairs, b(f), b(v))
	}
	s.HSet(b("h"), pairs, false)
	for _, count := range []int{0, 1, 3, 9, 10, 50} {
		got, _ := randFields(t, s, "h", count, false)
		m := fieldMap(got)
		if len(got) != min(count, 10) || len(m) != len(got) {
			t.Fatalf("count %d: %d fields, %d distinct", count, len(got), len(m))
		}
		for f, v := range m {
			if want[f] != v {
				t.Fatalf("count %d: %s=%s is not in the hash", count, f, v)
			}
		}
	}
	got, _ := randFields(t, s, "h", 200, true)
	seen := fieldMap(got)
	if len(got) != 200 || len(seen) != 10 { // 10 fields missed in 200 picks: p < 1e-8
		t.Fatalf("with repeats: %d picks, %d distinct; want 200 and all 10", len(got), len(seen))
	}
	// A caller can stop a huge count early: the picks are not made first.
	n := 0
	s.HRandField(b("h"), 1<<40, true, func(total int, f Field) bool {
		n++
		return n < 5
	})
	if n != 5 {
		t.Fatalf("each was called %d times after asking to stop at 5", n)
	}
}

func TestHScanCoversEveryFieldOnce(t *testing.T) {
	s := New(Config{})
	var pairs [][]byte
	for i := range 1000 {
		pairs = append(pairs, b(fmt.Sprintf("f%04d", i)), b(fmt.Sprintf("%d", i)))
	}
	s.HSet(b("h"), pairs, false)
	seen := map[string]int{}
	cursor, calls := uint64(0), 0
	for {
		next, found, err := s.HScan(b("h"), cursor, "f*", 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range found {
			seen[f.Name]++
			if n, _ := strconv.Atoi(string(f.Value)); fmt.Sprintf("f%04d", n) != f.Name {
				t.Fatalf("%s has value %s", f.Name, f.Value)
			}
		}
		calls++
		if next == 0 {
			break
		}
		if next <= cursor {
			t.Fatalf("cursor went from %d to %d", cursor, next)
		}
		cursor = next
	}
	if len(seen) != 1000 || calls < 100 {
		t.Fatalf("%d fields in %d calls; want 1000 in >= 1000/7", len(seen), calls)
	}
	for f, n := range seen {
		if n != 1 {
			t.Fatalf("%s returned %d times", f, n)
		}
	}
	_, found, _ := s.HScan(b("h"), 0, "f000?", 1000)
	if len(found) != 10 {
		t.Fatalf("MATCH f000?: %d fields", len(found))
	}
	if next, found, err := s.HScan(b("none"), 0, "*", 10); next != 0 || found != nil || err != nil {
		t.Fatal("an absent key scans as empty")
	}
}

// TestHashMemoryIsCounted: each field's bytes and overhead count against
// the bound, the count falls back when fields go, and a bound far below
// what is written keeps used memory under it by eviction.
func TestHashMemoryIsCounted(t *testing.T) {
	s := New(Config{})
	s.HSet(b("h"), [][]byte{b("field"), make([]byte, 1000)}, false)
	want := int64(entryOverhead+1) + 5 + 1000 + memberOverhead
	if got := s.Stats().UsedMemory; got != want {
		t.Fatalf("used %d; want %d", got, want)
	}
	s.HSet(b("h"), [][]byte{b("field"), make([]byte, 10)}, false)
	if got := s.Stats().UsedMemory; got != want-990 {
		t.Fatalf("after overwriting: used %d; want %d", got, want-990)
	}
	s.HIncrBy(b("h"), b("n"), 12345)
	s.HDel(b("h"), [][]byte{b("field"), b("n")})
	if got := s.Stats().UsedMemory; got != 0 {
		t.Fatalf("empty store accounts %d bytes", got)
	}

	const bound = 50000
	s = New(Config{MaxMemory: bound})
	for i := range 200 {
		key := b(fmt.Sprintf("h%d", i%20))
		if _, err := s.HSet(key, [][]byte{b(fmt.Sprintf("f%d", i)), make([]byte, 1000)}, false); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.UsedMemory > bound {
			t.Fatalf("used %d over the bound %d", st.UsedMemory, bound)
		}
	}
	if st := s.Stats(); st.Evictions == 0 {
		t.Fatal("200 KB of fields under a 50 KB bound evicted nothing")
	}
	s = New(Config{MaxMemory: bound, NoEvict: true})
	var err error
	for i := 0; err == nil && i < 100; i++ {
		_, err = s.HSet(b("h"), [][]byte{b(fmt.Sprintf("f%d", i)), make([]byte, 1000)}, false)
	}
	if err != ErrOOM || s.Stats().UsedMemory > bound {
		t.Fatalf("noeviction: %v, used %d", err, s.Stats().UsedMemory)
	}
}

func TestHashTTLAndCopy(t *testing.T) {
	now := time.Unix(1000, 0)
	s := New(Config{Now: func() time.Time { return now }})
	s.HSet(b("h"), [][]byte{b("f"), b("v")}, false)
	s.Expire(b("h"), time.Second)
	s.HSet(b("h"), [][]byte{b("g"), b("w")}, false)
	if left, _, forever := s.TTL(b("h")); forever || left != time.Second {
		t.Fatal("HSET must keep the key's deadline")
	}
	c := s.objects[s.lookup(b("h"))].clone().(*hash)
	c.put(b("f"), b("changed"))
	if v, _, _ := s.HGet(b("h"), b("f")); string(v) != "v" {
		t.Fatal("a clone shares state with its original")
	}
	now = now.Add(2 * time.Second)
	if _, ok, _ := s.HGet(b("h"), b("f")); ok || s.Exists(b("h")) {
		t.Fatal("an expired hash is still there")
	}
	if got := fieldMap(fields(c.all())); !reflect.DeepEqual(got, map[string]string{"f": "changed", "g": "w"}) {
		t.Fatalf("the clone holds %v", got)
	}
}
