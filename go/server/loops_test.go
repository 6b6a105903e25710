//go:build linux && !tmc_portable

package server

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
)

// The tests here run clients on different loops of one server at once:
// what a single loop gave for free (one command at a time, wake-ups and
// pushes on the same thread) must hold across loops. tcpConfig asks for
// two loops whatever the machine, and a new client goes to the loop with
// the fewest, so the first two clients of a server are on different loops.

// peer is a raw RESP connection for a test's goroutines: it returns errors
// where respConn fails the test, which only the test's goroutine may do.
type peer struct {
	nc net.Conn
	r  *bufio.Reader
}

func dialPeer(t *testing.T, s *Server) *peer {
	t.Helper()
	nc, err := net.Dial(s.cfg.Network, s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	p := &peer{nc, bufio.NewReader(nc)}
	if _, err := p.do("PING"); err != nil { // served: its loop is chosen
		t.Fatal(err)
	}
	return p
}

// do sends one command and reads one value, within 10 s.
func (p *peer) do(args ...string) (string, error) {
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	p.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := p.nc.Write(resp.AppendCommand(nil, bs...)); err != nil {
		return "", err
	}
	return readValue(p.r)
}

// loads returns how many clients each of s's loops serves.
func loads(s *Server) []int64 {
	var n []int64
	for _, l := range s.loops {
		n = append(n, l.load.Load())
	}
	return n
}

// spread checks that s's clients are spread as want over its loops.
func spread(t *testing.T, s *Server, want ...int64) {
	t.Helper()
	if got := loads(s); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("clients per loop %v; want %v", got, want)
	}
}

func TestClientsGoToTheLeastLoadedLoop(t *testing.T) {
	cfg := tcpConfig()
	cfg.Loops = 3
	s := start(t, cfg)
	var ps []*peer
	for range 5 {
		ps = append(ps, dialPeer(t, s))
	}
	spread(t, s, 2, 2, 1)
	ps[1].nc.Close() // on the second loop
	deadline := time.Now().Add(5 * time.Second)
	for loads(s)[1] != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	spread(t, s, 2, 1, 1)
	dialPeer(t, s) // to the first of the least loaded
	spread(t, s, 2, 2, 1)
}

// EXEC's commands run with no other client's command between them, though
// the other clients' commands run on another loop at the same time.
func TestExecIsAtomicAcrossLoops(t *testing.T) {
	s := start(t, tcpConfig())
	const clients, rounds, incrs = 4, 100, 50
	var ps []*peer
	for range clients {
		ps = append(ps, dialPeer(t, s))
	}
	spread(t, s, 2, 2)
	var tx, plain []byte // sent in one write each
	tx = resp.AppendCommand(tx, []byte("MULTI"))
	for range incrs {
		tx = resp.AppendCommand(tx, []byte("INCR"), []byte("n"))
		plain = resp.AppendCommand(plain, []byte("INCR"), []byte("n"))
	}
	tx = resp.AppendCommand(tx, []byte("EXEC"))
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				p.nc.SetDeadline(time.Now().Add(10 * time.Second))
				if i%2 == 1 { // on the other loop: plain INCRs
					p.nc.Write(plain)
					for range incrs {
						if _, err := readValue(p.r); err != nil {
							errs <- err
							return
						}
					}
					continue
				}
				p.nc.Write(tx)
				for range incrs + 1 { // OK, QUEUED...
					readValue(p.r)
				}
				got, err := readValue(p.r)
				if err != nil {
					errs <- err
					return
				}
				v := strings.Fields(strings.Trim(got, "[]"))
				first, _ := strconv.Atoi(v[0])
				for j, x := range v {
					if x != strconv.Itoa(first+j) {
						errs <- fmt.Errorf("EXEC replied %s: another client's INCR came between its own", got)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got, _ := ps[0].do("GET", "n"); got != strconv.Itoa(clients*rounds*incrs) {
		t.Fatalf("n = %s; want %d", got, clients*rounds*incrs)
	}
}

// MSET writes its keys at once for readers on other loops.
func TestMultiKeyCommandsAtomicAcrossLoops(t *testing.T) {
	s := start(t, tcpConfig())
	w, r := dialPeer(t, s), dialPeer(t, s)
	spread(t, s, 1, 1)
	done := make(chan error, 1)
	go func() {
		for i := range 2000 {
			v := strconv.Itoa(i)
			if _, err := w.do("MSET", "a", v, "b", v); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
		}
		got, err := r.do("MGET", "a", "b")
		if err != nil {
			t.Fatal(err)
		}
		if v := strings.Fields(strings.Trim(got, "[]")); v[0] != v[1] {
			t.Fatalf("MGET a b = %s in the middle of an MSET", got)
		}
	}
}

// Poppers blocked on one loop are woken by pushes on another, and each
// value goes to exactly one of them.
func TestBlockedPopsAcrossLoopsGetEachValueOnce(t *testing.T) {
	s := start(t, tcpConfig())
	const poppers, values = 4, 400
	var ps []*peer
	for range poppers + 2 {
		ps = append(ps, dialPeer(t, s))
	}
	spread(t, s, 3, 3)
	var mu sync.Mutex
	got := map[string]int{}
	errs := make(chan error, poppers+2)
	var wg sync.WaitGroup
	for _, p := range ps[:poppers] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				v, err := p.do("BLPOP", "q", "5")
				if err != nil || v == "nil" {
					errs <- fmt.Errorf("BLPOP: %q, %v (no value within 5 s)", v, err)
					return
				}
				if v == "[q stop]" {
					return
				}
				mu.Lock()
				got[v]++
				mu.Unlock()
			}
		}()
	}
	var pushers sync.WaitGroup
	for i, p := range ps[poppers:] {
		pushers.Add(1)
		go func() {
			defer pushers.Done()
			for j := range values / 2 {
				if _, err := p.do("RPUSH", "q", fmt.Sprint(i, ":", j)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	pushers.Wait()
	for range poppers {
		ps[poppers].do("RPUSH", "q", "stop")
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(got) != values {
		t.Fatalf("%d values popped; want %d", len(got), values)
	}
	for v, n := range got {
		if n != 1 {
			t.Fatalf("%s popped %d times", v, n)
		}
	}
}

// A tracking client hears of a write made on another loop.
func TestTrackingInvalidatesAcrossLoops(t *testing.T) {
	s := start(t, tcpConfig())
	a := tracker(t, s)
	w := dialPeer(t, s)
	spread(t, s, 1, 1)
	a.do("GET", "k")
	if _, err := w.do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	a.expect(">[invalidate [k]]")
	a.quiet()
}

// INFO counts the blocked clients of every loop, and Close ends the
// blocked pops of every loop with a null reply.
func TestBlockedClientsOnEveryLoop(t *testing.T) {
	s := start(t, tcpConfig())
	ps := []*peer{dialPeer(t, s), dialPeer(t, s)}
	spread(t, s, 1, 1)
	for _, p := range ps {
		p.nc.Write([]byte("BLPOP q 0\r\n"))
	}
	waitForInfo(t, dial(t, s), "blocked_clients", "2")
	go s.Close()
	for i, p := range ps {
		p.nc.SetDeadline(time.Now().Add(10 * time.Second))
		if v, err := readValue(p.r); v != "nil" || err != nil {
			t.Fatalf("client %d: BLPOP replied %q, %v; want nil", i, v, err)
		}
		if _, err := p.r.ReadByte(); err == nil {
			t.Fatalf("client %d still connected after Close", i)
		}
	}
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop")
	}
}

// Loops wait in epoll holding a P each, in a system call the Go scheduler
// does not know of. With several servers in one process the rest of the
// process still runs: new clients are accepted, a blocked pop's timeout
// fires, and a garbage collection, which must stop every loop's goroutine
// for a moment (its signal cuts the wait short), completes. (holdPs keeps
// a P free for them; without it they wait for the scheduler's 10 ms
// preemption of a loop instead.)
func TestManyServersInOneProcessLeaveAPToTheRest(t *testing.T) {
	var servers []*Server
	for range 4 {
		servers = append(servers, start(t, tcpConfig()))
	}
	for _, s := range servers {
		dialPeer(t, s) // accepted and served
	}
	gc := make(chan struct{})
	go func() { runtime.GC(); close(gc) }()
	select {
	case <-gc:
	case <-time.After(10 * time.Second):
		t.Fatal("a garbage collection did not complete while the loops waited")
	}
	for i, s := range servers {
		if v, err := dialPeer(t, s).do("BLPOP", "q", "0.05"); v != "nil" || err != nil {
			t.Fatalf("server %d: BLPOP with a timeout replied %q, %v; want nil", i, v, err)
		}
	}
}
