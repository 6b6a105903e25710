package server

// Scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT run Lua scripts
// (lua.go) the way Redis 7 does.
//
// A script runs as one command, like EXEC: under the server's running
// lock, which its loop took to run EVAL, so no other client's command
// comes between the script's commands on any loop, and pops blocked on
// lists it pushed to are served once it is done (store.ServeReady after
// the command, as after EXEC).
//
// A script that runs past busy-reply-threshold is "busy": other clients'
// commands are answered with -BUSY instead of waiting, and SCRIPT KILL
// stops it unless it has written. The loops check Server.script before
// they take the lock (whileBusy); those already waiting for the lock are
// let through by the script's watchdog, which lends them the lock now and
// then while the script is between commands (lend): they see the busy
// script and answer -BUSY too, without touching data. Work that changes
// data outside a command (a blocked pop ending, a client closing) takes
// the lock with lockData, which waits out a lent lock until the script
// ends.

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
)

// DefaultBusyReplyThreshold is Config.BusyReplyThreshold when it is 0, in
// milliseconds: Redis's default.
const DefaultBusyReplyThreshold = 5000

// DefaultScriptMaxMemory is Config.ScriptMaxMemory when it is 0: how much
// one script may grow the server's live heap before it is stopped.
const DefaultScriptMaxMemory = 256 << 20

// maxScriptCache bounds the source bytes EVAL adds to the script cache;
// past it, EVAL still runs new scripts but no longer keeps them.
const maxScriptCache = 64 << 20

// scriptTick is how often a running script's watchdog checks its memory
// and time, and lends the running lock to waiting loops while it is busy.
const scriptTick = 10 * time.Millisecond

// scriptCache holds the scripts EVAL ran and SCRIPT LOAD loaded, compiled,
// by the SHA1 of their source. It is guarded by Server.running.
type scriptCache struct {
	protos map[string]*script
	bytes  int
}

// script is a compiled script.
type script struct {
	proto    *lua.FunctionProto
	noWrites bool // its shebang says flags=no-writes
}

// The states of a running script, for SCRIPT KILL.
const (
	scriptClean  int32 = iota // has not written: may be killed
	scriptWrote               // has run a write command: may not
	scriptKilled              // killed; may no longer write
)

// scriptRun is one script while it runs.
type scriptRun struct {
	s         *Server
	c         *conn // the client that runs it
	sha       string
	readOnly  bool  // EVAL_RO, EVALSHA_RO, or flags=no-writes
	resp3     bool  // redis.setresp(3): commands reply in RESP3
	maxMemory int64 // Config.ScriptMaxMemory
	buf       []byte

	state   atomic.Int32
	stopped atomic.Pointer[string] // why the script was stopped: its error reply
	cancel  context.CancelFunc
	busy    atomic.Bool // ran past busy-reply-threshold

	mu       sync.Mutex // held by redis.call, and by the watchdog while it lends the lock
	finished bool       // guarded by mu: the watchdog lends no more
	done     chan struct{}
}

// stop makes the script fail with msg at its next instruction.
func (r *scriptRun) stop(msg string) {
	if r.stopped.CompareAndSwap(nil, &msg) {
		r.cancel()
	}
}

// write records that the script runs a write command; false if it was
// killed meanwhile.
func (r *scriptRun) write() bool {
	for {
		switch r.state.Load() {
		case scriptWrote:
			return true
		case scriptKilled:
			return false
		}
		if r.state.CompareAndSwap(scriptClean, scriptWrote) {
			return true
		}
	}
}

// kill is SCRIPT KILL while r is busy.
func (r *scriptRun) kill(out []byte) []byte {
	if r.state.CompareAndSwap(scriptClean, scriptKilled) || r.state.Load() == scriptKilled {
		r.stop("ERR Script killed by user with SCRIPT KILL...")
		return resp.AppendSimple(out, "OK")
	}
	return resp.AppendError(out, "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")
}

const errBusy = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."

// whileBusy answers a command while a script is busy, without running it:
// SCRIPT KILL stops the script, anything else gets -BUSY. It reports
// false, and does nothing, when no script is busy. The loops call it
// before they take the running lock, and exec with the lock (lent).
func (s *Server) whileBusy(c *conn, args [][]byte, out []byte) ([]byte, bool) {
	r := s.script.Load()
	if r == nil || !r.busy.Load() {
		return out, false
	}
	switch {
	case !c.authed && !is(args[0], "AUTH") && !is(args[0], "HELLO"):
		return resp.AppendError(out, "NOAUTH Authentication required."), true
	case len(args) == 2 && is(args[0], "SCRIPT") && is(args[1], "KILL"):
		return r.kill(out), true
	}
	return resp.AppendError(out, errBusy), true
}

// lockData takes the running lock for work that may change data outside a
// command. If a busy script's watchdog lent the lock, it gives it back and
// waits for the script to end.
func (s *Server) lockData() {
	s.running.Lock()
	for r := s.script.Load(); r != nil; r = s.script.Load() {
		s.running.Unlock()
		<-r.done
		s.running.Lock()
	}
}

// cmdEval is EVAL script numkeys [key ...] [arg ...], and EVAL_RO.
func cmdEval(c *conn, args [][]byte, out []byte) []byte {
	src := string(args[1])
	sum := sha1.Sum(args[1])
	sha := hex.EncodeToString(sum[:])
	proto := c.s.scripts.protos[sha]
	if proto == nil {
		var err error
		if proto, err = compileScript(src); err != nil {
			return resp.AppendError(out, oneLine(err.Error()))
		}
		c.s.scripts.add(sha, proto, len(src), false)
	}
	return c.s.eval(c, proto, sha, args, is(args[0], "EVAL_RO"), out)
}

// cmdEvalSHA is EVALSHA sha1 numkeys [key ...] [arg ...], and EVALSHA_RO.
func cmdEvalSHA(c *conn, args [][]byte, out []byte) []byte {
	sha := strings.ToLower(string(args[1]))
	proto := c.s.scripts.protos[sha]
	if proto == nil {
		return resp.AppendError(out, "NOSCRIPT No matching script. Please use EVAL.")
	}
	return c.s.eval(c, proto, sha, args, is(args[0], "EVALSHA_RO"), out)
}

// cmdScript is SCRIPT LOAD script, SCRIPT EXISTS sha1 [sha1 ...], SCRIPT
// FLUSH [ASYNC | SYNC] and SCRIPT KILL (which, run here, finds no script
// running: see whileBusy).
func cmdScript(c *conn, args [][]byte, out []byte) []byte {
	cache := &c.s.scripts
	switch sub := args[1]; {
	case is(sub, "LOAD") && len(args) == 3:
		proto, err := compileScript(string(args[2]))
		if err != nil {
			return resp.AppendError(out, oneLine(err.Error()))
		}
		sum := sha1.Sum(args[2])
		sha := hex.EncodeToString(sum[:])
		cache.add(sha, proto, len(args[2]), true)
		return resp.AppendBulkString(out, sha)
	case is(sub, "EXISTS") && len(args) >= 3:
		out = resp.AppendArray(out, len(args)-2)
		for _, sha := range args[2:] {
			n := int64(0)
			if cache.protos[strings.ToLower(string(sha))] != nil {
				n = 1
			}
			out = resp.AppendInt(out, n)
		}
		return out
	case is(sub, "FLUSH") && (len(args) == 2 || len(args) == 3 && (is(args[2], "ASYNC") || is(args[2], "SYNC"))):
		*cache = scriptCache{}
		return resp.AppendSimple(out, "OK")
	case is(sub, "FLUSH"):
		return resp.AppendError(out, "ERR SCRIPT FLUSH only support SYNC|ASYNC option")
	case is(sub, "KILL") && len(args) == 2:
		return resp.AppendError(out, "NOTBUSY No scripts in execution right now.")
	}
	return resp.AppendError(out, "ERR unknown subcommand or wrong number of arguments for 'script|"+strings.ToLower(printable(args[1]))+"' command")
}

func (cache *scriptCache) add(sha string, proto *script, size int, always bool) {
	if cache.protos == nil {
		cache.protos = map[string]*script{}
	}
	if cache.protos[sha] != nil || !always && cache.bytes+size > maxScriptCache {
		return
	}
	cache.protos[sha] = proto
	cache.bytes += size
}

// compileScript compiles a script's source. A first line "#!lua" (Redis
// 7's shebang) is dropped, keeping the line numbers; see scriptFlags.
func compileScript(src string) (*script, error) {
	sc := &script{noWrites: noWrites(src)}
	if strings.HasPrefix(src, "#!") {
		if !strings.HasPrefix(src, "#!lua") {
			return nil, errors.New("ERR Unexpected engine in script shebang in function")
		}
		src = src[strings.IndexByte(src+"\n", '\n'):]
	}
	chunk, err := parse.Parse(strings.NewReader(src), "user_script")
	if err != nil {
		return nil, errors.New("ERR Error compiling script (new function): " + err.Error())
	}
	if sc.proto, err = lua.Compile(chunk, "user_script"); err != nil {
		return nil, errors.New("ERR Error compiling script (new function): " + err.Error())
	}
	return sc, nil
}

// noWrites reports whether the shebang of src (its first line) says
// flags=no-writes: the script is then run as EVAL_RO runs it.
func noWrites(src string) bool {
	line, _, _ := strings.Cut(src, "\n")
	if !strings.HasPrefix(line, "#!lua") {
		return false
	}
	for _, word := range strings.Fields(line) {
		if flags, ok := strings.CutPrefix(word, "flags="); ok && slices.Contains(strings.Split(flags, ","), "no-writes") {
			return true
		}
	}
	return false
}

// eval runs a compiled script with the keys and arguments of args (EVAL
// script|sha numkeys key... arg...) and appends its reply.
func (s *Server) eval(c *conn, sc *script, sha string, args [][]byte, readOnly bool, out []byte) []byte {
	n, ok := parseIntArg(args[2])
	switch {
	case !ok:
		return resp.AppendError(out, errNotInt)
	case n < 0:
		return resp.AppendError(out, "ERR Number of keys can't be negative")
	case n > int64(len(args)-3):
		return resp.AppendError(out, "ERR Number of keys can't be greater than number of args")
	}
	keys, argv := args[3:3+n], args[3+n:]
	readOnly = readOnly || sc.noWrites

	r := &scriptRun{s: s, c: c, sha: sha, readOnly: readOnly,
		maxMemory: int64(s.cfg.ScriptMaxMemory), done: make(chan struct{})}
	env := s.lua
	if s.lua = nil; env == nil {
		env = newLuaEnv()
	}
	env.bind(r, keys, argv)
	L := env.L
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.cancel = cancel
	L.SetContext(ctx)

	s.script.Store(r)
	threshold := time.Duration(s.cfg.BusyReplyThreshold) * time.Millisecond
	started := time.Now()
	baseLive, baseObjects := heapBytes()
	watchdog := time.AfterFunc(scriptTick, func() { s.watchScript(r, started, threshold, baseLive, baseObjects) })

	L.Push(L.NewFunctionFromProto(sc.proto))
	err := L.PCall(0, 1, nil)

	watchdog.Stop()
	r.mu.Lock() // a lend in progress gives the lock back first
	r.finished = true
	r.mu.Unlock()
	s.script.Store(nil)
	close(r.done)

	if msg := r.stopped.Load(); msg != nil {
		L.Close()
		return resp.AppendError(out, *msg+" script: "+sha)
	}
	if err != nil {
		L.Close()
		return resp.AppendError(out, scriptError(err)+" script: "+sha)
	}
	out = r.appendReply(c, out, L.Get(-1))
	env.reset()
	s.lua = env
	return out
}

// scriptError is the error reply for an error a script raised: a table
// with err (redis.call's errors, error(redis.error_reply(...))) as it is,
// anything else as ERR and its message.
func scriptError(err error) string {
	var apiErr *lua.ApiError
	if !errors.As(err, &apiErr) {
		return "ERR " + oneLine(err.Error())
	}
	if t, ok := apiErr.Object.(*lua.LTable); ok {
		if e, ok := t.RawGetString("err").(lua.LString); ok {
			return oneLine(strings.TrimPrefix(string(e), "-"))
		}
	}
	return "ERR " + oneLine(apiErr.Object.String())
}

// parseIntArg parses a decimal int64 argument.
func parseIntArg(b []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

// run is redis.call's command: checked as Redis checks commands from
// scripts, then run through the command table like any command, with the
// reply in RESP2 unless the script asked for RESP3. It returns the reply,
// or an error message if the command was refused.
func (r *scriptRun) run(args [][]byte) ([]byte, string) {
	cmd := commands[strings.ToLower(string(args[0]))]
	switch {
	case cmd == nil:
		return nil, "ERR Unknown Redis command called from script"
	case cmd.arity > 0 && len(args) != cmd.arity, cmd.arity < 0 && len(args) < -cmd.arity:
		return nil, "ERR Wrong number of args calling Redis command from script"
	case !cmd.scriptable():
		return nil, "ERR This Redis command is not allowed from script"
	case !cmd.readOnly() && r.readOnly:
		return nil, "ERR Write commands are not allowed from read-only scripts."
	case !cmd.readOnly() && !r.write():
		return nil, "ERR Script killed by user with SCRIPT KILL..."
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.c
	resp3 := c.resp3
	c.resp3 = r.resp3
	out := r.s.call(c, cmd, args, r.buf[:0])
	if b := c.block; b != nil { // as in EXEC: a command that would block times out at once
		c.block = nil
		b.stop(r.s.store)
		out = b.reply(c, out, nil)
	}
	c.resp3 = resp3
	r.buf = out
	return out, ""
}

// scriptable reports whether scripts may run cmd: not if Redis flags it
// noscript, which holds for every transaction and connection command
// (unqueued, noAuth) too.
func (cmd *command) scriptable() bool {
	return !cmd.unqueued && !cmd.noAuth && !slices.Contains(cmd.flags, "noscript")
}

// watchScript watches a running script every scriptTick, from scriptTick
// after it started until it ends: stops it once it has grown the live heap
// by more than its bound, marks it busy past threshold, and then lends the
// running lock to the loops waiting for it.
func (s *Server) watchScript(r *scriptRun, started time.Time, threshold time.Duration, baseLive, baseObjects uint64) {
	t := time.NewTicker(scriptTick)
	defer t.Stop()
	for {
		if live, objects := heapBytes(); objects > baseObjects+uint64(r.maxMemory) {
			// Garbage counts in objects: collect it to see what is live.
			runtime.GC()
			if live, _ = heapBytes(); live > baseLive+uint64(r.maxMemory) {
				s.log.Warn("stopping a script that passed script_max_memory", "sha", r.sha, "script_max_memory", r.maxMemory)
				r.stop("ERR Script used more than script_max_memory (" + strconv.FormatInt(r.maxMemory, 10) + " bytes)")
			}
		}
		if !r.busy.Load() && time.Since(started) >= threshold {
			s.log.Warn("a script has run past busy-reply-threshold: other clients get -BUSY", "sha", r.sha,
				"busy_reply_threshold_ms", threshold.Milliseconds())
			r.busy.Store(true)
		}
		if r.busy.Load() && !s.lend(r) {
			return
		}
		select {
		case <-r.done:
			return
		case <-t.C:
		}
	}
}

// lend gives the running lock to the loops waiting for it, for a moment,
// while the busy script r is between commands; they answer -BUSY. It
// reports false once r has finished.
func (s *Server) lend(r *scriptRun) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return false
	}
	s.running.Unlock()
	time.Sleep(time.Millisecond)
	s.running.Lock()
	return true
}

var heapSamples = []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}

// heapBytes returns the live heap as of the last collection and the bytes
// in heap objects now, live or not yet collected.
func heapBytes() (live, objects uint64) {
	samples := slices.Clone(heapSamples)
	metrics.Read(samples)
	return samples[0].Value.Uint64(), samples[1].Value.Uint64()
}
