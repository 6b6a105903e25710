// Command capi is built with -buildmode=c-shared into libtinympcache.so, the
// library that tiny_mp_cache loads through cffi. tmc.h documents the ABI.
//
// Every export copies what it needs out of the caller's memory before it
// returns, hands out only C memory (freed with tmc_free) and integer
// handles, and turns every failure into a status and a message.
package main

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TMC_STATUSES_ONLY
#include "tmc.h"
*/
import "C"

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/tiny-mp-cache/tiny-mp-cache/client"
	"github.com/tiny-mp-cache/tiny-mp-cache/internal/procs"
	"github.com/tiny-mp-cache/tiny-mp-cache/server"
)

func main() {}

func init() { procs.AtLeastTwo() }

// Status codes, from tmc.h.
const (
	statusOK      = C.TMC_OK
	statusNil     = C.TMC_NIL
	statusConn    = C.TMC_ERR_CONN
	statusTimeout = C.TMC_ERR_TIMEOUT
	statusProto   = C.TMC_ERR_PROTO
	statusServer  = C.TMC_ERR_SERVER
	statusArg     = C.TMC_ERR_ARG
	statusIntr    = C.TMC_ERR_INTR
)

// handles maps the integers given to C to the Go objects they stand for.
type handles[T any] struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]T // guarded by mu
}

func (h *handles[T]) add(v T) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[uint64]T)
	}
	h.next++
	h.m[h.next] = v
	return h.next
}

func (h *handles[T]) get(id uint64) (T, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[id]
	return v, ok
}

func (h *handles[T]) remove(id uint64) (T, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[id]
	delete(h.m, id)
	return v, ok
}

var (
	clients handles[*client.Client]
	servers handles[*server.Server]
)

// view returns the caller's bytes without copying; valid during the call.
func view(p *C.char, n C.size_t) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

// setErr writes msg into the caller's buffer, truncated and NUL-terminated.
func setErr(buf *C.char, bufCap C.size_t, msg string) {
	if buf == nil || bufCap == 0 {
		return
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(bufCap))
	n := copy(dst[:len(dst)-1], msg)
	dst[n] = 0
}

// fail reports err through the caller's buffer and returns its status.
func fail(err error, buf *C.char, bufCap C.size_t) C.int {
	if err == errNil {
		return statusNil
	}
	setErr(buf, bufCap, err.Error())
	var ce *client.Error
	if !errors.As(err, &ce) {
		return statusArg
	}
	switch ce.Kind {
	case client.KindConn:
		return statusConn
	case client.KindTimeout:
		return statusTimeout
	case client.KindProto:
		return statusProto
	case client.KindServer:
		return statusServer
	case client.KindInterrupted:
		return statusIntr
	}
	return statusArg
}

// give copies b into C memory owned by the caller and returns statusOK,
// or statusProto if there is no memory for it.
func give(b []byte, out **C.char, outLen *C.size_t, errBuf *C.char, errCap C.size_t) C.int {
	p := tryMalloc(len(b))
	if p == nil {
		setErr(errBuf, errCap, fmt.Sprintf("cannot allocate %d bytes for the reply", len(b)))
		return statusProto
	}
	if len(b) > 0 {
		C.memcpy(p, unsafe.Pointer(&b[0]), C.size_t(len(b)))
	}
	*out = (*C.char)(p)
	*outLen = C.size_t(len(b))
	return statusOK
}

// withClient runs call on the client of handle h and reports its error, if
// any, through the caller's buffer: each export is its one meaningful line.
func withClient(h C.uint64_t, errBuf *C.char, errCap C.size_t, call func(c *client.Client) error) C.int {
	c, ok := clients.get(uint64(h))
	if !ok {
		setErr(errBuf, errCap, "the client is closed")
		return statusArg
	}
	if err := call(c); err != nil {
		return fail(err, errBuf, errCap)
	}
	return statusOK
}

// errNil is what a call returns for a missing value: TMC_NIL, not an error.
var errNil = errors.New("nil")

// argError is an argument the caller got wrong: TMC_ERR_ARG with its message.
type argError string

func (e argError) Error() string { return string(e) }

//export tmc_open
func tmc_open(addr *C.char, addrLen C.size_t, timeout C.double, maxReply C.size_t, out *C.uint64_t, errBuf *C.char, errCap C.size_t) C.int {
	if !(timeout > 0) {
		setErr(errBuf, errCap, "timeout must be a positive number of seconds")
		return statusArg
	}
	if maxReply == 0 || uint64(maxReply) > math.MaxInt {
		setErr(errBuf, errCap, "max_reply_size must be a positive number of bytes")
		return statusArg
	}
	c, err := client.DialWith(string(view(addr, addrLen)), client.Options{
		Timeout:     time.Duration(float64(timeout) * float64(time.Second)),
		MaxReply:    int(maxReply),
		Interrupted: signalCheck,
	})
	if err != nil {
		return fail(err, errBuf, errCap)
	}
	*out = C.uint64_t(clients.add(c))
	return statusOK
}

//export tmc_set_signal_check
func tmc_set_signal_check(check unsafe.Pointer) { // int (*check)(void)
	setSignalCheck(check)
}

//export tmc_close
func tmc_close(h C.uint64_t) {
	if c, ok := clients.remove(uint64(h)); ok {
		c.Close()
	}
}

//export tmc_set
func tmc_set(h C.uint64_t, key *C.char, keyLen C.size_t, val *C.char, valLen C.size_t, errBuf *C.char, errCap C.size_t) C.int {
	return withClient(h, errBuf, errCap, func(c *client.Client) error { return c.Set(view(key, keyLen), view(val, valLen)) })
}

// cValue is where a get-like call reads its value: the caller's buffer
// when the value fits, else memory from malloc that the caller frees with
// tmc_free. Either way the value crosses from the socket to the caller
// without a copy in Go.
type cValue struct {
	buf    unsafe.Pointer // the caller's buffer, bufCap bytes
	bufCap int
	p      unsafe.Pointer // from malloc, when the value did not fit
}

func (m *cValue) alloc(n int) []byte {
	if n <= m.bufCap {
		return unsafe.Slice((*byte)(m.buf), n)
	}
	if m.p = tryMalloc(n); m.p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(m.p), n)
}

//export tmc_value
func tmc_value(h C.uint64_t, op C.int, key *C.char, keyLen C.size_t, buf *C.char, bufCap C.size_t, out **C.char, outLen *C.size_t, deadline *C.int64_t, errBuf *C.char, errCap C.size_t) C.int {
	m := cValue{buf: unsafe.Pointer(buf), bufCap: int(bufCap)}
	st := withClient(h, errBuf, errCap, func(c *client.Client) error {
		var v []byte
		var ok bool
		var err error
		switch op {
		case C.TMC_GET:
			v, ok, err = c.GetIn(view(key, keyLen), m.alloc)
		case C.TMC_GETDEL:
			v, ok, err = c.GetDelIn(view(key, keyLen), m.alloc)
		case C.TMC_GET_SHARED:
			v, ok, err = c.ValueIn([]byte("TMC.GET"), true, view(key, keyLen), m.alloc)
		case C.TMC_GETDEL_SHARED:
			v, ok, err = c.ValueIn([]byte("TMC.GETDEL"), false, view(key, keyLen), m.alloc)
		case C.TMC_GET_DEADLINE:
			var ms int64
			if v, ok, ms, err = c.GetDeadlineIn(view(key, keyLen), m.alloc); err == nil {
				*deadline = C.int64_t(ms)
			}
		default:
			return argError(fmt.Sprintf("tmc_value: unknown operation %d", op))
		}
		if err == nil && !ok {
			return errNil
		}
		*out, *outLen = (*C.char)(m.buf), C.size_t(len(v))
		if m.p != nil {
			*out = (*C.char)(m.p)
		}
		return err
	})
	if st != statusOK {
		C.free(m.p) // free(NULL) is fine
	}
	return st
}

//export tmc_int
func tmc_int(h C.uint64_t, op C.int, key *C.char, keyLen C.size_t, val *C.char, valLen C.size_t, out *C.int64_t, errBuf *C.char, errCap C.size_t) C.int {
	return withClient(h, errBuf, errCap, func(c *client.Client) (err error) {
		var n int64
		switch op {
		case C.TMC_DEL:
			n, err = c.Del(view(key, keyLen))
		case C.TMC_DBSIZE:
			n, err = c.DBSize()
		case C.TMC_RPUSH, C.TMC_LPUSH:
			n, err = c.Push(view(key, keyLen), view(val, valLen), op == C.TMC_LPUSH)
		default:
			return argError(fmt.Sprintf("tmc_int: unknown operation %d", op))
		}
		*out = C.int64_t(n)
		return err
	})
}

// nilLen marks a missing value in the output of pack.
const nilLen = 0xFFFFFFFF

// pack lays out byte strings as tmc_list returns them: each a 4-byte
// little-endian length and its bytes, or nilLen alone for nil.
func pack(vals [][]byte) []byte {
	size := 0
	for _, v := range vals {
		size += 4 + len(v)
	}
	packed := make([]byte, 0, size)
	for _, v := range vals {
		if v == nil {
			packed = binary.LittleEndian.AppendUint32(packed, nilLen)
			continue
		}
		packed = binary.LittleEndian.AppendUint32(packed, uint32(len(v)))
		packed = append(packed, v...)
	}
	return packed
}

//export tmc_list
func tmc_list(h C.uint64_t, op C.int, n C.int, keys **C.char, keyLen *C.size_t, out **C.char, outLen *C.size_t, count *C.int64_t, deadlines *C.int64_t, errBuf *C.char, errCap C.size_t) C.int {
	return withReply(h, out, outLen, errBuf, errCap, func(c *client.Client) (vals []byte, err error) {
		if n <= 0 {
			return nil, argError("a list call needs at least one key (KEYS: its pattern)")
		}
		names := args(n, keys, keyLen)
		var list [][]byte
		switch op {
		case C.TMC_KEYS:
			list, err = c.Keys(names[0])
		case C.TMC_MGET:
			list, err = c.MGet(names)
		case C.TMC_MGET_DEADLINE:
			var ms []int64
			if list, ms, err = c.MGetDeadlines(names); err == nil {
				dst := unsafe.Slice(deadlines, int(n))
				for i := range dst {
					dst[i] = C.int64_t(ms[i])
				}
			}
		default:
			return nil, argError(fmt.Sprintf("tmc_list: unknown operation %d", op))
		}
		*count = C.int64_t(len(list))
		return pack(list), err
	})
}

// withReply is withClient for a call whose reply is bytes, handed to the
// caller in C memory (freed with tmc_free).
func withReply(h C.uint64_t, out **C.char, outLen *C.size_t, errBuf *C.char, errCap C.size_t, call func(c *client.Client) ([]byte, error)) C.int {
	var reply []byte
	st := withClient(h, errBuf, errCap, func(c *client.Client) (err error) {
		reply, err = call(c)
		return err
	})
	if st != statusOK {
		return st
	}
	return give(reply, out, outLen, errBuf, errCap)
}

//export tmc_command
func tmc_command(h C.uint64_t, retry C.int, argc C.int, argv **C.char, argLen *C.size_t, out **C.char, outLen *C.size_t, errBuf *C.char, errCap C.size_t) C.int {
	return withReply(h, out, outLen, errBuf, errCap, func(c *client.Client) ([]byte, error) {
		if argc <= 0 {
			return nil, argError("a command needs at least its name")
		}
		return c.DoRetry(retry != 0, args(argc, argv, argLen)...)
	})
}

//export tmc_command_wait
func tmc_command_wait(h C.uint64_t, wait C.double, argc C.int, argv **C.char, argLen *C.size_t, out **C.char, outLen *C.size_t, errBuf *C.char, errCap C.size_t) C.int {
	return withReply(h, out, outLen, errBuf, errCap, func(c *client.Client) ([]byte, error) {
		if argc <= 0 {
			return nil, argError("a command needs at least its name")
		}
		w := time.Duration(-1) // wait < 0: no limit
		if wait >= 0 {
			w = time.Duration(float64(wait) * float64(time.Second))
		}
		return c.DoWait(w, args(argc, argv, argLen)...)
	})
}

//export tmc_pipeline
func tmc_pipeline(h C.uint64_t, retry C.int, ncmds C.int, argcs *C.int, argv **C.char, argLen *C.size_t, out **C.char, outLen *C.size_t, errBuf *C.char, errCap C.size_t) C.int {
	return withReply(h, out, outLen, errBuf, errCap, func(c *client.Client) ([]byte, error) {
		if ncmds <= 0 {
			return nil, argError("a pipeline needs at least one command")
		}
		counts := unsafe.Slice(argcs, int(ncmds))
		total := 0
		for _, n := range counts {
			if n <= 0 {
				return nil, argError("a command needs at least its name")
			}
			total += int(n)
		}
		all := args(C.int(total), argv, argLen)
		cmds := make([][][]byte, len(counts))
		for i, n := range counts {
			cmds[i], all = all[:n], all[n:]
		}
		return c.PipelineRetry(retry != 0, cmds)
	})
}

// args views the caller's argument vector without copying.
func args(argc C.int, argv **C.char, argLen *C.size_t) [][]byte {
	ptrs := unsafe.Slice(argv, int(argc))
	lens := unsafe.Slice(argLen, int(argc))
	out := make([][]byte, argc)
	for i := range out {
		out[i] = view(ptrs[i], lens[i])
	}
	return out
}

//export tmc_free
func tmc_free(p *C.char) {
	C.free(unsafe.Pointer(p))
}

// starting is held while a server starts, and while SIGTERM stops them all
// (see tmc_server_stop_on_sigterm), so that no server starts unseen by that.
var starting struct {
	sync.Mutex
	terminated bool // guarded by the mutex: SIGTERM stopped the servers
}

//export tmc_server_start
func tmc_server_start(config *C.char, configLen C.size_t, out *C.uint64_t, errBuf *C.char, errCap C.size_t) C.int {
	starting.Lock()
	defer starting.Unlock()
	if starting.terminated {
		setErr(errBuf, errCap, "the process is ending: SIGTERM stopped its servers")
		return statusConn
	}
	var cfg server.Config
	dec := json.NewDecoder(bytes.NewReader(view(config, configLen)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		setErr(errBuf, errCap, fmt.Sprintf("bad server options: %v", err))
		return statusArg
	}
	s, err := server.Listen(cfg)
	var cerr *server.ConfigError
	switch {
	case errors.As(err, &cerr):
		setErr(errBuf, errCap, err.Error())
		return statusArg
	case err != nil: // the address is taken, not permitted, and the like
		setErr(errBuf, errCap, err.Error())
		return statusConn
	}
	go s.Serve()
	*out = C.uint64_t(servers.add(s))
	return statusOK
}

//export tmc_server_wait
func tmc_server_wait(h C.uint64_t, timeout C.double) C.int {
	expired := time.After(time.Duration(float64(timeout) * float64(time.Second)))
	if s, ok := servers.get(uint64(h)); ok {
		select {
		case <-s.Done():
		case <-expired:
			return 0
		}
	}
	if sigtermStopped() {
		// SIGTERM stopped this server, and raised again it ends the
		// process: the caller must not see the server stopped and return
		// (exit 0) first. Only a handler for SIGTERM lets the call go on.
		select {
		case <-sigtermRaised:
			time.Sleep(100 * time.Millisecond)
		case <-expired:
			return 0
		}
	}
	return 1
}

//export tmc_server_addr
func tmc_server_addr(h C.uint64_t, buf *C.char, bufCap C.size_t) C.int {
	s, ok := servers.get(uint64(h))
	if !ok {
		setErr(buf, bufCap, "no such server")
		return statusArg
	}
	setErr(buf, bufCap, s.Addr().String())
	return statusOK
}

//export tmc_server_stop
func tmc_server_stop(h C.uint64_t, errBuf *C.char, errCap C.size_t) C.int {
	s, ok := servers.remove(uint64(h))
	if !ok {
		return statusOK
	}
	if err := s.Close(); err != nil {
		setErr(errBuf, errCap, err.Error())
		return statusConn
	}
	return statusOK
}

// stopOnSIGTERM is set up once, by the first tmc_server_stop_on_sigterm.
var stopOnSIGTERM sync.Once

// sigtermRaised is closed once SIGTERM has stopped every server and has been
// raised again for its default handling.
var sigtermRaised = make(chan struct{})

// sigtermStopped reports whether SIGTERM stopped the servers.
func sigtermStopped() bool {
	starting.Lock()
	defer starting.Unlock()
	return starting.terminated
}

//export tmc_server_stop_on_sigterm
func tmc_server_stop_on_sigterm() {
	stopOnSIGTERM.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		go func() {
			<-ch
			starting.Lock()
			starting.terminated = true
			starting.Unlock()
			stopAllServers()
			// Put back the handling SIGTERM had before Notify, and let
			// it take its course.
			signal.Reset(syscall.SIGTERM)
			raiseSIGTERM()
			close(sigtermRaised)
		}()
	})
}

// stopAllServers stops every server started through this library, at once.
func stopAllServers() {
	servers.mu.Lock()
	all := make([]*server.Server, 0, len(servers.m))
	for id, s := range servers.m {
		all = append(all, s)
		delete(servers.m, id)
	}
	servers.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Close()
		}()
	}
	wg.Wait()
}

//export tmc_near_clean
func tmc_near_clean(out **C.char, outLen *C.size_t, errBuf *C.char, errCap C.size_t) C.int {
	removed, err := server.CleanNear()
	if err != nil {
		setErr(errBuf, errCap, err.Error())
		return statusConn
	}
	var b []byte
	for _, path := range removed {
		b = append(append(b, path...), '\n')
	}
	return give(b, out, outLen, errBuf, errCap)
}
