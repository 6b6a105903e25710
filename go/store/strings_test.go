package store

import (
	"strings"
	"testing"
	"time"
)

// TestIncrByFloatMatchesRedis: each row was checked against redis-server
// 7.0 on x86-64, whose long double has a 64-bit mantissa.
func TestIncrByFloatMatchesRedis(t *testing.T) {
	for _, tc := range []struct {
		start, incr, want string // start "" means the key is absent
	}{
		{"10.50", "0.1", "10.6"},
		{"10.6", "-5", "5.6"},
		{"5.0e3", "2.0e2", "5200"},
		{"", "0.1", "0.1"},
		{"0.1", "0.2", "0.3"},
		{"0.3", "1e30", "1000000000000000000024696061952"},
		{"3", "1.5e-10", "3.00000000015"},
		{"", "123456789.123456789", "123456789.12345678899873747"},
		{"", "1e-20", "0"},
		{"", "-2.5", "-2.5"},
		{"0.02439024390243902", "-0.024390243902439025", "0"}, // 1/41 back: -5e-18 prints as 0, not -0
		{"", "-1e-20", "0"},
		{"", "1.", "1"},
		{"", ".5", "0.5"},
		{"", "+3", "3"},
		{"", "0x10", "16"},
		{"", "1.7976931348623157e308", "179769313486231569995921046774104434048386446944329178485314420765176628523124396354701868608387085564428793419425520689308708363451136055357897278026477617073498977686288394835618163294045594434929537447290627480669417384648879122776218333598953852832103282504751611691208117720159985926376802466863339536384"},
	} {
		s := New(Config{})
		if tc.start != "" {
			s.Set(b("k"), b(tc.start), SetOptions{})
		}
		got, err := s.IncrByFloat(b("k"), b(tc.incr))
		if err != nil || string(got) != tc.want {
			t.Errorf("%q + %q = %q, %v; want %q", tc.start, tc.incr, got, err, tc.want)
		}
		if v, _, _ := s.Get(b("k")); string(v) != tc.want {
			t.Errorf("%q + %q stored %q; want %q", tc.start, tc.incr, v, tc.want)
		}
	}
}

func TestIncrByFloatRefusesWhatRedisRefuses(t *testing.T) {
	s := New(Config{})
	s.Set(b("text"), b("abc"), SetOptions{})
	s.Push(b("list"), [][]byte{b("x")}, false)
	for _, tc := range []struct {
		key, incr string
		want      error
	}{
		{"k", "abc", ErrNotFloat},
		{"k", " 1", ErrNotFloat},
		{"k", "1 ", ErrNotFloat},
		{"k", "nan", ErrNotFloat},
		{"k", "1_000", ErrNotFloat},
		{"k", "0b1", ErrNotFloat},
		{"k", "--1", ErrNotFloat},
		{"k", "1e99999", ErrNotFloat}, // beyond long double
		{"k", "inf", ErrFloatResult},
		{"text", "1", ErrNotFloat},
		{"list", "1", ErrWrongType},
	} {
		if _, err := s.IncrByFloat(b(tc.key), b(tc.incr)); err != tc.want {
			t.Errorf("INCRBYFLOAT %s %q: %v; want %v", tc.key, tc.incr, err, tc.want)
		}
	}
	if s.Exists(b("k")) {
		t.Error("a refused INCRBYFLOAT created its key")
	}
}

func TestExpireAtConditions(t *testing.T) {
	s, clock := newClocked()
	now := clock.Now()
	s.Set(b("k"), b("v"), SetOptions{})
	for i, tc := range []struct {
		at   time.Duration // from now
		cond ExpireCond
		want bool
		ttl  time.Duration // afterwards; 0 means none
	}{
		{100 * time.Second, IfTTL, false, 0},
		{100 * time.Second, IfLater, false, 0}, // no deadline counts as infinite
		{100 * time.Second, IfSooner, true, 100 * time.Second},
		{50 * time.Second, IfLater, false, 100 * time.Second},
		{200 * time.Second, IfLater, true, 200 * time.Second},
		{300 * time.Second, IfNoTTL, false, 200 * time.Second},
		{10 * time.Second, IfTTL | IfLater, false, 200 * time.Second},
		{10 * time.Second, IfTTL | IfSooner, true, 10 * time.Second},
		{20 * time.Second, 0, true, 20 * time.Second},
	} {
		if got := s.ExpireAt(b("k"), now.Add(tc.at), tc.cond); got != tc.want {
			t.Errorf("step %d: ExpireAt = %v; want %v", i, got, tc.want)
		}
		if left, _, _ := s.TTL(b("k")); left != tc.ttl {
			t.Errorf("step %d: TTL %v; want %v", i, left, tc.ttl)
		}
	}
	if s.ExpireAt(b("k"), now.Add(-time.Second), IfLater) || !s.Exists(b("k")) {
		t.Fatal("a refused past deadline deleted the key")
	}
	if !s.ExpireAt(b("k"), now, 0) || s.Exists(b("k")) {
		t.Fatal("a deadline of now did not delete the key")
	}
	if s.ExpireAt(b("missing"), now.Add(time.Second), 0) {
		t.Fatal("ExpireAt of a missing key reported success")
	}
}

func TestSwapAndGetEx(t *testing.T) {
	s, clock := newClocked()
	if old, had, _ := s.Swap(b("k"), b("1"), SetOptions{TTL: time.Minute}); had || old != nil {
		t.Fatalf("Swap of a new key returned %q %v", old, had)
	}
	if old, had, _ := s.Swap(b("k"), b("2"), SetOptions{NX: true}); !had || string(old) != "1" {
		t.Fatalf("Swap NX returned %q %v; want the old value", old, had)
	}
	if v, _, _ := s.Get(b("k")); string(v) != "1" {
		t.Fatalf("Swap NX replaced the value: %q", v)
	}
	v, ok, _ := s.GetEx(b("k"), clock.Now().Add(time.Hour), false)
	if left, _, _ := s.TTL(b("k")); !ok || string(v) != "1" || left != time.Hour {
		t.Fatalf("GetEx = %q %v, TTL %v", v, ok, left)
	}
	s.GetEx(b("k"), time.Time{}, true)
	if _, _, forever := s.TTL(b("k")); !forever {
		t.Fatal("GetEx PERSIST kept the deadline")
	}
	if v, ok, _ := s.GetEx(b("k"), clock.Now(), false); !ok || string(v) != "1" || s.Exists(b("k")) {
		t.Fatal("GetEx with a deadline of now must return the value and delete the key")
	}
	s.Push(b("l"), [][]byte{b("x")}, false)
	if _, _, err := s.Swap(b("l"), b("v"), SetOptions{}); err != ErrWrongType {
		t.Fatalf("Swap on a list: %v", err)
	}
}

func TestMoveRotatesMovesAndAccounts(t *testing.T) {
	s := New(Config{})
	s.Push(b("a"), [][]byte{b("1"), b("2"), b("3")}, false)
	if v, ok, _ := s.Move(b("a"), b("a"), true, false); !ok || string(v) != "1" {
		t.Fatalf("rotation moved %q %v", v, ok)
	}
	s.Move(b("a"), b("b"), false, true)
	s.Move(b("a"), b("b"), true, true)
	s.Move(b("a"), b("b"), true, false)
	if s.Exists(b("a")) {
		t.Fatal("the emptied source list was kept")
	}
	got, _ := s.LRange(b("b"), 0, -1)
	if strs := bytesToStrings(got); len(strs) != 3 || strs[0] != "2" || strs[1] != "1" || strs[2] != "3" {
		t.Fatalf("destination = %q", strs)
	}
	// Memory accounting matches a store built directly with the same list.
	fresh := New(Config{})
	fresh.Push(b("b"), [][]byte{b("2"), b("1"), b("3")}, false)
	if s.Stats().UsedMemory != fresh.Stats().UsedMemory {
		t.Fatalf("used memory %d; a fresh store holding the same has %d", s.Stats().UsedMemory, fresh.Stats().UsedMemory)
	}
	s.Set(b("s"), b("x"), SetOptions{})
	if _, _, err := s.Move(b("b"), b("s"), true, true); err != ErrWrongType {
		t.Fatalf("Move to a string: %v", err)
	}
	if n, _ := s.LLen(b("b")); n != 3 {
		t.Fatal("a refused Move took a value")
	}
}

// TestMoveRotatesALastValue: rotating a one-value list keeps it, though the
// pop alone would have emptied it.
func TestMoveRotatesALastValue(t *testing.T) {
	s := New(Config{})
	s.Push(b("a"), [][]byte{b("only")}, false)
	if v, ok, _ := s.Move(b("a"), b("a"), true, false); !ok || string(v) != "only" {
		t.Fatalf("rotation moved %q %v", v, ok)
	}
	if got, _ := s.LRange(b("a"), 0, -1); len(got) != 1 || string(got[0]) != "only" {
		t.Fatalf("after the rotation the list is %q", got)
	}
}

// TestListCloneSharesNoState: a clone is the same list, and pushing to or
// popping from either leaves the other as it was.
func TestListCloneSharesNoState(t *testing.T) {
	d := &deque{}
	for _, v := range []string{"b", "c", "d"} {
		d.push(b(v), false)
	}
	d.pop(true)
	d.push(b("a"), true) // wraps the ring: head is no longer slot 0
	c := d.clone().(*deque)
	d.push(b("x"), false)
	d.pop(true)
	c.push(b("y"), true)
	var got []string
	for i := range c.len() {
		got = append(got, string(c.at(i)))
	}
	if strings.Join(got, ",") != "y,a,c,d" || c.bytes != 4 || d.len() != 3 || string(d.at(0)) != "c" {
		t.Fatalf("clone %v (bytes %d); original len %d", got, c.bytes, d.len())
	}
}

func bytesToStrings(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, v := range bs {
		out[i] = string(v)
	}
	return out
}

// TestBMoveMovesWhenServed: the value is in the destination as soon as a
// push serves the waiter, before the waiter's client is told, so it is
// never out of both lists; a waiter cancelled after that keeps the move.
func TestBMoveMovesWhenServed(t *testing.T) {
	s := New(Config{})
	notified := 0
	_, w, err := s.BMove(b("src"), b("dst"), true, false, func() { notified++ })
	if err != nil || w == nil {
		t.Fatalf("BMove on an empty source: %v %v", w, err)
	}
	s.Push(b("src"), [][]byte{b("x"), b("y")}, false)
	s.ServeReady() // as the server does once a command is done
	if got, _ := s.LRange(b("dst"), 0, -1); len(got) != 1 || string(got[0]) != "x" {
		t.Fatalf("destination right after the push: %q", got)
	}
	if p := <-w.C; string(p.Value) != "x" || p.Err != nil || notified != 1 {
		t.Fatalf("waiter got %+v, notified %d", p, notified)
	}
	s.Cancel(w) // nothing to put back: the move is done
	if n, _ := s.LLen(b("src")); n != 1 {
		t.Fatalf("source holds %d values; want 1", n)
	}
	if n, _ := s.LLen(b("dst")); n != 1 {
		t.Fatalf("destination holds %d values; want 1", n)
	}
}

func TestBMoveToAStringFailsTheWaiterOnly(t *testing.T) {
	s := New(Config{})
	s.Set(b("dst"), b("string"), SetOptions{})
	_, w, _ := s.BMove(b("src"), b("dst"), true, true, nil)
	_, pop, _ := s.BPop([][]byte{b("src")}, true, nil)
	s.Push(b("src"), [][]byte{b("x")}, false)
	s.ServeReady() // as the server does once a command is done
	if p := <-w.C; p.Err != ErrWrongType {
		t.Fatalf("mover got %+v; want ErrWrongType", p)
	}
	if p := <-pop.C; string(p.Value) != "x" {
		t.Fatalf("the next waiter got %+v; want the value", p)
	}
}

func TestWatchSeesEveryChange(t *testing.T) {
	for name, change := range map[string]func(s *Store, clock *fakeClock){
		"set":     func(s *Store, _ *fakeClock) { s.Set(b("k"), b("new"), SetOptions{}) },
		"delete":  func(s *Store, _ *fakeClock) { s.Del(b("k")) },
		"expire":  func(s *Store, _ *fakeClock) { s.Expire(b("k"), time.Hour) },
		"persist": func(s *Store, _ *fakeClock) { s.Persist(b("t")) },
		"incr":    func(s *Store, _ *fakeClock) { s.IncrBy(b("n"), 1) },
		"push":    func(s *Store, _ *fakeClock) { s.Push(b("l"), [][]byte{b("x")}, false) },
		"pop":     func(s *Store, _ *fakeClock) { s.Pop(b("l"), true, 1) },
		"move":    func(s *Store, _ *fakeClock) { s.Move(b("l"), b("other"), true, true) },
		"create":  func(s *Store, _ *fakeClock) { s.Set(b("absent"), b("v"), SetOptions{}) },
		"flush":   func(s *Store, _ *fakeClock) { s.Flush() },
		"expiry":  func(s *Store, clock *fakeClock) { clock.Advance(2 * time.Minute) },
	} {
		s, clock := newClocked()
		s.Set(b("k"), b("v"), SetOptions{})
		s.Set(b("t"), b("v"), SetOptions{TTL: time.Minute})
		s.Set(b("n"), b("1"), SetOptions{})
		s.Push(b("l"), [][]byte{b("a"), b("b")}, false)
		w := s.Watch(nil, [][]byte{b("k"), b("t"), b("n"), b("l"), b("absent")})
		if s.Changed(w) {
			t.Fatalf("%s: changed before any change", name)
		}
		s.Get(b("k"))
		s.LRange(b("l"), 0, -1)
		if s.Changed(w) {
			t.Fatalf("%s: reads counted as changes", name)
		}
		change(s, clock)
		if !s.Changed(w) {
			t.Errorf("%s: the change was not seen", name)
		}
		s.Unwatch(w)
		if len(s.watches) != 0 {
			t.Errorf("%s: Unwatch left %d keys watched", name, len(s.watches))
		}
	}
}

func TestWatchingAKeyTwiceKeepsOneEntry(t *testing.T) {
	s := New(Config{})
	w := s.Watch(nil, [][]byte{b("k"), b("k")})
	w = s.Watch(w, [][]byte{b("k")})
	if len(w.keys) != 1 || len(s.watches["k"]) != 1 {
		t.Fatalf("watched keys %q, watchers of k %d; want one each", w.keys, len(s.watches["k"]))
	}
}
