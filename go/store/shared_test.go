package store

import "testing"

// fakeShared is a Shared that records whether the store closed it.
type fakeShared struct {
	b      []byte
	closed bool
}

func (f *fakeShared) Len() int      { return len(f.b) }
func (f *fakeShared) Bytes() []byte { return append([]byte(nil), f.b...) }
func (f *fakeShared) Close()        { f.closed = true }

func TestSharedValueIsAStringCountedAndClosedWhenItGoes(t *testing.T) {
	s := New(Config{})
	v := &fakeShared{b: []byte("shared bytes")}
	if ok, err := s.SetShared([]byte("k"), v, SetOptions{}); !ok || err != nil {
		t.Fatalf("SetShared: %v %v", ok, err)
	}
	if got, ok, _ := s.Get([]byte("k")); !ok || string(got) != "shared bytes" {
		t.Fatalf("Get of a shared value: %q %v", got, ok)
	}
	if used := s.Stats().UsedMemory; used != int64(entryOverhead+1+len(v.b)) {
		t.Fatalf("used memory %d does not count the shared value", used)
	}
	var took Shared
	if got, ok, _ := s.ReadShared([]byte("k"), false, func(sh Shared) error { took = sh; return nil }); !ok || got != nil || took != v {
		t.Fatalf("ReadShared: %q %v %v", got, ok, took)
	}
	s.Set([]byte("k"), []byte("plain"), SetOptions{}) // a write replaces it
	if !v.closed || s.Stats().UsedMemory != int64(entryOverhead+1+5) {
		t.Fatalf("overwritten shared value: closed %v, used %d", v.closed, s.Stats().UsedMemory)
	}
	w := &fakeShared{b: []byte("second")}
	s.SetShared([]byte("k"), w, SetOptions{})
	if got, ok, _ := s.GetDel([]byte("k")); !ok || string(got) != "second" || !w.closed {
		t.Fatalf("GetDel of a shared value: %q %v closed %v", got, ok, w.closed)
	}
	if s.Stats().UsedMemory != 0 {
		t.Fatalf("used memory %d after the last key went", s.Stats().UsedMemory)
	}
}

func TestSharedValuesAreEvictedAndClosed(t *testing.T) {
	s := New(Config{MaxMemory: 3 * (entryOverhead + 1 + 1000)})
	var vs []*fakeShared
	for i := 0; i < 10; i++ {
		v := &fakeShared{b: make([]byte, 1000)}
		vs = append(vs, v)
		if ok, err := s.SetShared([]byte{'a' + byte(i)}, v, SetOptions{}); !ok || err != nil {
			t.Fatalf("SetShared %d: %v %v", i, ok, err)
		}
	}
	closed := 0
	for _, v := range vs {
		if v.closed {
			closed++
		}
	}
	if st := s.Stats(); st.Keys != 3 || closed != 7 || st.Evictions != 7 || st.UsedMemory > st.MaxMemory {
		t.Fatalf("keys %d, closed %d, evictions %d, used %d of %d", st.Keys, closed, st.Evictions, st.UsedMemory, st.MaxMemory)
	}
	s.Flush()
	for i, v := range vs {
		if !v.closed {
			t.Fatalf("value %d not closed by Flush", i)
		}
	}
	refusing := New(Config{MaxMemory: 100, NoEvict: true})
	if ok, err := refusing.SetShared([]byte("k"), &fakeShared{b: make([]byte, 1000)}, SetOptions{}); ok || err != ErrOOM {
		t.Fatalf("SetShared past a noevict bound: %v %v", ok, err)
	}
}
