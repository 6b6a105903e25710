//go:build linux

package client

import (
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// getOnItsThread runs c.Get on a thread of its own and signals that thread
// every 100 ms until the Get returns (within 5 s), so one of the signals
// is sure to come during the wait. SIGURG is harmless to Go (it asks for
// preemption), and with a socket timeout set a read it interrupts fails
// with EINTR. It returns how long the Get took and its error.
func getOnItsThread(t *testing.T, c *Client) (time.Duration, error) {
	t.Helper()
	done := make(chan error, 1)
	tid := make(chan int, 1)
	start := time.Now()
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- syscall.Gettid()
		_, _, err := c.Get([]byte("k"))
		done <- err
	}()
	thread := <-tid
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return time.Since(start), err
		case <-tick.C:
			syscall.Tgkill(syscall.Getpid(), thread, syscall.SIGURG)
		case <-time.After(5 * time.Second):
			t.Fatal("Get did not return: a deadlock, or signals that do not interrupt")
		}
	}
}

// A signal that interrupts a wait ends the call if Interrupted says so,
// and otherwise the wait goes on.
func TestSignalInterruptsAWait(t *testing.T) {
	addr := hostile(t, func(c net.Conn) {
		time.Sleep(1500 * time.Millisecond)
		c.Write([]byte("$5\r\nvalue\r\n"))
	})
	for _, stop := range []bool{true, false} {
		asked := make(chan struct{}, 100)
		c, err := DialWith(addr, Options{Timeout: 10 * time.Second, Interrupted: func() bool {
			asked <- struct{}{}
			return stop
		}})
		if err != nil {
			t.Fatal(err)
		}
		took, err := getOnItsThread(t, c)
		c.Close()
		if stop {
			wantKind(t, err, KindInterrupted, "Get interrupted by a signal")
			if took > time.Second {
				t.Fatalf("the interrupted Get took %v", took)
			}
		} else if err != nil || took < 1400*time.Millisecond {
			t.Fatalf("Get whose interruption was declined = %v after %v; want the value after 1.5 s", err, took)
		}
		if len(asked) == 0 {
			t.Fatal("Interrupted was not asked")
		}
	}
}

// Code the Interrupted hook runs (a Python signal handler) that uses the
// same client gets an error, not a wait for the lock its call holds; a
// Close there takes effect when the call ends.
func TestInterruptedHookUsingTheClient(t *testing.T) {
	addr := hostile(t, func(c net.Conn) { time.Sleep(2 * time.Second) })
	var c *Client
	var hookErr error
	c, err := DialWith(addr, Options{Timeout: 10 * time.Second, Interrupted: func() bool {
		_, _, hookErr = c.Get([]byte("k"))
		c.Close()
		return true
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = getOnItsThread(t, c)
	wantKind(t, err, KindInterrupted, "the interrupted Get")
	wantKind(t, hookErr, KindArg, "Get from the hook")
	_, _, err = c.Get([]byte("k"))
	wantKind(t, err, KindArg, "Get after a Close from the hook")
}

// A call waiting for its reply does not hold up the rest of the runtime,
// even with a single P: other goroutines run, and a garbage collection,
// which must stop every goroutine, ends long before the reply comes. The
// server is another process, so that it answers even if this one stands
// still (a test server in this process would then never answer).
func TestAWaitDoesNotStopTheRuntime(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := Dial(ln.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f, err := conn.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	server := exec.Command("sh", "-c", `sleep 2; printf '$5\r\nvalue\r\n' >&3`)
	server.ExtraFiles = []*os.File{f}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer server.Wait()
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Get([]byte("k"))
		done <- err
	}()
	start := time.Now()
	time.Sleep(100 * time.Millisecond) // the Get is waiting by now
	runtime.GC()
	if took := time.Since(start); took > time.Second {
		t.Fatalf("a sleep of 100 ms and a garbage collection took %v while a Get waited", took)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Get did not return")
	}
}
