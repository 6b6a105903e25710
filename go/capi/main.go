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

func lookup(h C.uint64_t, errBuf *C.char, errCap C.size_t) (*client.Client, C.int) {
	c, ok := clients.get(uint64(h))
	if !ok {
		setErr(errBuf, errCap, "the client is closed")
		return nil, statusArg
	}
	return c, statusOK
}

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
	c, st := lookup(h, errBuf, errCap)
	if c == nil {
		return st
	}
	if err := c.Set(view(key, keyLen), view(val, valLen)); err != nil {
		return fail(err, errBuf, errCap)
	}
	return statusOK
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

// hand gives the value to C, or frees the memory if there is no value.
func (m *cValue) hand(v []byte, ok bool, err error, out **C.char, outLen *C.size_t, errBuf *C.char, errCap C.size_t) C.int {
	if err != nil || !ok {
		C.free(m.p) // free(NULL) is fine
		if err != nil {
			return fail(err, errBuf, errCap)
		}
		return statusNil
	}
	*out = (*C.char)(m.buf)
	if m.p != nil {
		*out = (*C.char)(m.p)
	}
	*outLen = C.size_t(len(v))
	return statusOK
}

//export tmc_get
func tmc_get(h C.uint64_t, key *C.char, keyLen C.size_t, buf *C.char, bufCap C.size_t, out **C.char, outLen *C.size_t, errBuf *C.char, errCap C.size_t) C.int {
	return readValue((*client.Client).GetIn, h, key, keyLen, buf, bufCap, out, outLen, errBuf, errCap)
}

//export tmc_pop
func tmc_pop(h C.uint64_t, key *C.char, keyLen C.size_t, buf *C.char, bufCap C.size_t, out **C.char, outLen *C.size_t, errBuf *C.char, errCap C.size_t) C.int {
	return readValue((*client.Client).GetDelIn, h, key, keyLen, buf, bufCap, out, outLen, errBuf, errCap)
}

// readValue runs a get-like call of the client and hands its value to C.
func readValue(read func(*client.Client, []byte, func(int) []byte) ([]byte, bool, error), h C.uint64_t, key *C.char, keyLen C.size_t, buf *C.char, bufCap C.size_t, out **C.char, outLen *C.size_t, errBuf *C.char, errCap C.size_t) C.int {
	c, st := lookup(h, errBuf, errCap)
	if c == nil {
		return st
	}
	m := cValue{buf: unsafe.Pointer(buf), bufCap: int(bufCap)}
	v, ok, err := read(c, view(key, keyLen), m.alloc)
	return m.hand(v, ok, err, out, outLen, errBuf, errCap)
}

//export tmc_get_deadline
func tmc_get_deadline(h C.uint64_t, key *C.char, keyLen C.size_t, buf *C.char, bufCap C.size_t, out **C.char, outLen *C.size_t, deadline *C.int64_t, errBuf *C.char, errCap C.size_t) C.int {
	read := func(c *client.Client, key []byte, alloc func(int) []byte) ([]byte, bool, error) {
		v, ok, ms, err := c.GetDeadlineIn(key, alloc)
		if err == nil {
			*deadline = C.int64_t(ms)
		}
		return v, ok, err
	}
	return readValue(read, h, key, keyLen, buf, bufCap, out, outLen, errBuf, errCap)
}

//export tmc_delete
func tmc_delete(h C.uint64_t, key *C.char, keyLen C.size_t, out *C.int64_t, errBuf *C.char, errCap C.size_t) C.int {
	c, st := lookup(h, errBuf, errCap)
	if c == nil {
		return st
	}
	n, err := c.Del(view(key, keyLen))
	if err != nil {
		return fail(err, errBuf, errCap)
	}
	*out = C.int64_t(n)
	return statusOK
}

//export tmc_push
func tmc_push(h C.uint64_t, key *C.char, keyLen C.size_t, val *C.char, valLen C.size_t, left C.int, out *C.int64_t, errBuf *C.char, errCap C.size_t) C.int {
	c, st := lookup(h, errBuf, errCap)
	if c == nil {
		return st
	}
	n, err := c.Push(view(key, keyLen), view(val, valLen), left != 0)
	if err != nil {
		return fail(err, errBuf, errCap)
	}
	*out = C.int64_t(n)
	return statusOK
}

//export tmc_keys
func tmc_keys(h C.uint64_t, pattern *C.char, patternLen C.size_t, out **C.char, outLen *C.size_t, count *C.int64_t, errBuf *C.char, errCap C.size_t) C.int {
	c, st := lookup(h, errBuf, errCap)
	if c == nil {
		return st
	}
	keys, err := c.Keys(view(pattern, patternLen))
	if err != nil {
		return fail(err, errBuf, errCap)
	}
	*count = C.int64_t(len(keys))
	return give(pack(keys), out, outLen, errBuf, errCap)
}

// nilLen marks a missing value in the output of pack.
const nilLen = 0xFFFFFFFF

// pack lays out byte strings as tmc_keys and tmc_mget return them: each a
// 4-byte little-endian length and its bytes, or nilLen alone for nil.
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

// mgetArgs checks an MGET's handle and keys, for tmc_mget and tmc_mget_deadline.
func mgetArgs(h C.uint64_t, n C.int, keys **C.char, keyLen *C.size_t, errBuf *C.char, errCap C.size_t) (*client.Client, [][]byte, C.int) {
	c, st := lookup(h, errBuf, errCap)
	if c == nil {
		return nil, nil, st
	}
	if n <= 0 {
		setErr(errBuf, errCap, "mget needs at least one key")
		return nil, nil, statusArg
	}
	return c, args(n, keys, keyLen), 0
}

//export tmc_mget
func tmc_mget(h C.uint64_t, n C.int, keys **C.char, keyLen *C.size_t, out **C.char, outLen *C.size_t, errBuf *C.char, errCap C.size_t) C.int {
	c, names, st := mgetArgs(h, n, keys, keyLen, errBuf, errCap)
	if c == nil {
		return st
	}
	vals, err := c.MGet(names)
	if err != nil {
		return fail(err, errBuf, errCap)
	}
	return give(pack(vals), out, outLen, errBuf, errCap)
}

//export tmc_mget_deadline
func tmc_mget_deadline(h C.uint64_t, n C.int, keys **C.char, keyLen *C.size_t, out **C.char, outLen *C.size_t, deadlines *C.int64_t, errBuf *C.char, errCap C.size_t) C.int {
	c, names, st := mgetArgs(h, n, keys, keyLen, errBuf, errCap)
	if c == nil {
		return st
	}
	vals, ms, err := c.MGetDeadlines(names)
	if err != nil {
		return fail(err, errBuf, errCap)
	}
	dst := unsafe.Slice(deadlines, int(n))
	for i := range dst {
		dst[i] = C.int64_t(ms[i])
	}
	return give(pack(vals), out, outLen, errBuf, errCap)
}

//export tmc_len
func tmc_len(h C.uint64_t, out *C.int64_t, errBuf *C.char, errCap C.size_t) C.int {
	c, st := lookup(h, errBuf, errCap)
	if c == nil {
		return st
	}
	n, err := c.DBSize()
	if err != nil {
		return fail(err, errBuf, errCap)
	}
	*out = C.int64_t(n)
	return statusOK
}

//export tmc_command
func tmc_command(h C.uint64_t, retry C.int, argc C.int, argv **C.char, argLen *C.size_t, out **C.char, outLen *C.size_t, errBuf *C.char, errCap C.size_t) C.int {
	c, st := lookup(h, errBuf, errCap)
	if c == nil {
		return st
	}
	if argc <= 0 {
		setErr(errBuf, errCap, "a command needs at least its name")
		return statusArg
	}
	raw, err := c.DoRetry(retry != 0, args(argc, argv, argLen)...)
	if err != nil {
		return fail(err, errBuf, errCap)
	}
	return give(raw, out, outLen, errBuf, errCap)
}

//export tmc_command_wait
func tmc_command_wait(h C.uint64_t, wait C.double, argc C.int, argv **C.char, argLen *C.size_t, out **C.char, outLen *C.size_t, errBuf *C.char, errCap C.size_t) C.int {
	c, st := lookup(h, errBuf, errCap)
	if c == nil {
		return st
	}
	if argc <= 0 {
		setErr(errBuf, errCap, "a command needs at least its name")
		return statusArg
	}
	w := time.Duration(-1)
	if wait >= 0 {
		w = time.Duration(float64(wait) * float64(time.Second))
	}
	raw, err := c.DoWait(w, args(argc, argv, argLen)...)
	if err != nil {
		return fail(err, errBuf, errCap)
	}
	return give(raw, out, outLen, errBuf, errCap)
}

//export tmc_pipeline
func tmc_pipeline(h C.uint64_t, retry C.int, ncmds C.int, argcs *C.int, argv **C.char, argLen *C.size_t, out **C.char, outLen *C.size_t, errBuf *C.char, errCap C.size_t) C.int {
	c, st := lookup(h, errBuf, errCap)
	if c == nil {
		return st
	}
	if ncmds <= 0 {
		setErr(errBuf, errCap, "a pipeline needs at least one command")
		return statusArg
	}
	counts := unsafe.Slice(argcs, int(ncmds))
	total := 0
	for _, n := range counts {
		if n <= 0 {
			setErr(errBuf, errCap, "a command needs at least its name")
			return statusArg
		}
		total += int(n)
	}
	all := args(C.int(total), argv, argLen)
	cmds := make([][][]byte, len(counts))
	for i, n := range counts {
		cmds[i], all = all[:n], all[n:]
	}
	raw, err := c.PipelineRetry(retry != 0, cmds)
	if err != nil {
		return fail(err, errBuf, errCap)
	}
	return give(raw, out, outLen, errBuf, errCap)
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
	s, ok := servers.get(uint64(h))
	if !ok {
		return 1
	}
	select {
	case <-s.Done():
		return 1
	case <-time.After(time.Duration(float64(timeout) * float64(time.Second))):
		return 0
	}
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
