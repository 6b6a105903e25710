package store

import "testing"

// TestIndexTellsClashingKeysApart makes every key hash alike, so all but
// the first go through the clash path, and checks the store still keeps
// them apart through sets, overwrites and deletes in any order.
func TestIndexTellsClashingKeysApart(t *testing.T) {
	s := New(Config{})
	s.entries.mask = 0 // every key hashes to 0
	keys := []string{"a", "b", "c", "d"}
	for _, k := range keys {
		s.Set(b(k), b("v"+k), SetOptions{})
	}
	s.Set(b("b"), b("new b"), SetOptions{}) // overwrite a clashing key
	s.Del(b("a"))                           // the key holding the hash
	s.Del(b("c"))
	want := map[string]string{"b": "new b", "d": "vd"}
	for _, k := range keys {
		v, ok, _ := s.Get(b(k))
		if w, exists := want[k]; ok != exists || string(v) != w {
			t.Errorf("Get(%s) = %q, %v; want %q, %v", k, v, ok, w, exists)
		}
	}
	if n := s.Len(); n != 2 {
		t.Fatalf("Len = %d; want 2", n)
	}
	s.Del(b("d"))
	s.Del(b("b"))
	if n := s.Len(); n != 0 || len(s.entries.clash) != 0 {
		t.Fatalf("Len = %d, %d clashing; want none", n, len(s.entries.clash))
	}
}
