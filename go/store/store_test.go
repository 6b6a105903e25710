package store

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
)

func TestSetGetDel(t *testing.T) {
	s := New(Config{})
	if _, ok, _ := s.Get([]byte("a")); ok {
		t.Fatal("empty store returned a value")
	}
	buf := []byte("v1")
	s.Set([]byte("a"), buf, SetOptions{})
	buf[0] = 'X' // the store must have copied the value
	if v, ok, _ := s.Get([]byte("a")); !ok || string(v) != "v1" {
		t.Fatalf("Get = %q, %v; want v1", v, ok)
	}
	s.Set([]byte("a"), []byte("v2"), SetOptions{})
	if v, _, _ := s.Get([]byte("a")); string(v) != "v2" {
		t.Fatalf("overwrite: Get = %q; want v2", v)
	}
	if n := s.Len(); n != 1 {
		t.Fatalf("Len = %d; want 1", n)
	}
	if !s.Del([]byte("a")) || s.Del([]byte("a")) {
		t.Fatal("Del should report true once, then false")
	}
	if n := s.Len(); n != 0 {
		t.Fatalf("Len after Del = %d; want 0", n)
	}
	if got := s.Keys("*"); len(got) != 0 {
		t.Fatalf("Keys after Del = %q; want none", got)
	}
}

// With Take, Set keeps the caller's memory instead of a copy, and puts
// the key in its spare capacity; without room for the key, it copies.
func TestSetTakesTheValue(t *testing.T) {
	s := New(Config{})
	for _, tc := range []struct {
		name  string
		room  int
		take  bool
		share bool
	}{
		{"taken", 3, true, true},
		{"taken, over a key", 5, true, true},
		{"no room for the key", 2, true, false},
		{"not given", 3, false, false},
	} {
		value := make([]byte, 4, 4+tc.room)
		copy(value, "vvvv")
		opt := SetOptions{Take: tc.take}
		if _, err := s.Set([]byte("key"), value, opt); err != nil {
			t.Fatal(err)
		}
		got, _, _ := s.Get([]byte("key"))
		if string(got) != "vvvv" || s.Keys("*")[0] != "key" {
			t.Fatalf("%s: Get = %q, keys %q", tc.name, got, s.Keys("*"))
		}
		if shared := &got[0] == &value[0]; shared != tc.share {
			t.Fatalf("%s: the store kept the caller's memory: %v; want %v", tc.name, shared, tc.share)
		}
	}
}

func TestGetDel(t *testing.T) {
	s := New(Config{})
	s.Set([]byte("job"), []byte("x"), SetOptions{})
	if v, ok, _ := s.GetDel([]byte("job")); !ok || string(v) != "x" {
		t.Fatalf("GetDel = %q, %v", v, ok)
	}
	if _, ok, _ := s.GetDel([]byte("job")); ok {
		t.Fatal("second GetDel returned a value")
	}
	if s.Len() != 0 || len(s.Keys("*")) != 0 {
		t.Fatal("GetDel left the key behind")
	}
}

func TestEmptyValueIsNotMissing(t *testing.T) {
	s := New(Config{})
	s.Set([]byte("e"), nil, SetOptions{})
	if v, ok, _ := s.Get([]byte("e")); !ok || len(v) != 0 {
		t.Fatalf("Get = %q, %v; want empty, true", v, ok)
	}
}

func TestKeys(t *testing.T) {
	s := New(Config{})
	for _, k := range []string{"job:1", "job:2", "job:10", "jobs", "user:1", "j", "ключ:1", "a*b"} {
		s.Set([]byte(k), []byte("v"), SetOptions{})
	}
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		{"job:*", []string{"job:1", "job:10", "job:2"}},
		{"job:?", []string{"job:1", "job:2"}},
		{"job*", []string{"job:1", "job:10", "job:2", "jobs"}},
		{"*:1", []string{"job:1", "user:1", "ключ:1"}},
		{"job:[12]", []string{"job:1", "job:2"}},
		{"job:[^1]", []string{"job:2"}},
		{"ключ:*", []string{"ключ:1"}},
		{"jobs", []string{"jobs"}},
		{"nope", nil},
		{"nope*", nil},
		{`a\*b`, []string{"a*b"}},
		{"*", []string{"a*b", "j", "job:1", "job:10", "job:2", "jobs", "user:1", "ключ:1"}},
	} {
		got := s.Keys(tc.pattern)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Keys(%q) = %q; want %q", tc.pattern, got, tc.want)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"a*", "abc", true},
		{"a*", "ba", false},
		{"*c", "abc", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXcYb", false},
		{"?", "x", true},
		{"?", "", false},
		{"h?llo", "hello", true},
		{"h[ae]llo", "hallo", true},
		{"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-b]llo", "hbllo", true},
		{"h[b-a]llo", "hbllo", true},
		{"h[a-b]llo", "hcllo", false},
		{`h\*llo`, "h*llo", true},
		{`h\*llo`, "hello", false},
		{`[\]]`, "]", true},
		{"[abc", "b", true},
		{`a\`, `a\`, true},
		{"**a", "bba", true},
	} {
		if got := Match(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Match(%q, %q) = %v; want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// TestGetDelExactlyOnce races many poppers over the same keys: every key
// must be handed out exactly once.
func TestGetDelExactlyOnce(t *testing.T) {
	s := New(Config{})
	const keys, poppers = 2000, 8
	for i := 0; i < keys; i++ {
		s.Set([]byte(fmt.Sprint("job:", i)), []byte{1}, SetOptions{})
	}
	var got atomic.Int64
	var wg sync.WaitGroup
	for p := 0; p < poppers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < keys; i++ {
				if _, ok, _ := s.GetDel([]byte(fmt.Sprint("job:", i))); ok {
					got.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got.Load() != keys {
		t.Fatalf("%d pops succeeded; want exactly %d", got.Load(), keys)
	}
}

func BenchmarkGet(b *testing.B) {
	s := New(Config{})
	key := []byte("user:12345")
	s.Set(key, make([]byte, 100), SetOptions{})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.Get(key)
	}
}

func BenchmarkSet(b *testing.B) {
	s := New(Config{})
	key := []byte("user:12345")
	v := make([]byte, 100)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.Set(key, v, SetOptions{})
	}
}

func BenchmarkKeysPrefix(b *testing.B) {
	s := New(Config{})
	for i := 0; i < 100000; i++ {
		s.Set([]byte(fmt.Sprint("user:", i)), nil, SetOptions{})
	}
	for i := 0; i < 10; i++ {
		s.Set([]byte(fmt.Sprint("job:", i)), nil, SetOptions{})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(s.Keys("job:*")) != 10 {
			b.Fatal("wrong match count")
		}
	}
}

// BenchmarkSetGetDel is the latency benchmark's pattern on the store
// alone: SETs of 250 fresh keys, then a GETDEL of each, beside a number of
// resident keys that sets the indexes' depth.
func BenchmarkSetGetDel(b *testing.B) {
	for _, resident := range []int{0, 100000} {
		b.Run(fmt.Sprint("resident", resident), func(b *testing.B) {
			s := New(Config{})
			v := make([]byte, 100)
			for i := 0; i < resident; i++ {
				s.Set([]byte(fmt.Sprintf("key:%08d", i)), v, SetOptions{})
			}
			const keys = 250
			var names [keys][]byte
			for i := range names {
				names[i] = []byte(fmt.Sprintf("lat00:%06d", i))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if k := i % keys; i/keys%2 == 0 {
					s.Set(names[k], v, SetOptions{})
				} else {
					s.GetDel(names[k])
				}
			}
		})
	}
}
