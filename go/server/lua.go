package server

// The Lua side of scripting: the sandbox a script runs in, the redis
// library it calls the server through, and the conversions between Lua
// values and replies, as Redis 7 makes them.
//
// Lua is github.com/yuin/gopher-lua: Lua 5.1, the dialect Redis scripts are
// written in, in pure Go (no cgo), widely used and maintained.

import (
	"crypto/sha1"
	"encoding/hex"
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
)

// Bounds of one script's Lua state: calls nested at most luaCallDepth deep,
// at most luaStackSlots values on its stack (16 bytes each), and replies
// nested at most luaReplyDepth deep (a table that holds itself is an
// error, not an endless reply).
const (
	luaCallDepth  = 1000
	luaStackSlots = 1 << 20
	luaReplyDepth = 1000
)

// The base library's functions a script may not call: those that read
// files, load code from strings or bytecode, change a function's globals,
// print to the server's stdout or drive the collector. (Redis leaves load
// in; it is out here, as it adds nothing a script needs.)
var luaDenied = []string{
	"dofile", "loadfile", "load", "loadstring", "require", "module",
	"getfenv", "setfenv", "print", "_printregs", "collectgarbage", "gcinfo",
	"newproxy", "_GOPHER_LUA_VERSION",
}

// luaEnv is a Lua state for scripts, one at a time, with what it holds
// when no script has touched it: after a script that ended well, reset
// puts every table a script can reach back as it was (a new state costs
// some 100 us; a reset a few), so nothing one script leaves is seen by the
// next. After an error the state is dropped instead.
type luaEnv struct {
	L     *lua.LState
	run   *scriptRun // the script running in L now
	saved []savedTable
}

// savedTable is one table a script can reach, as it was made.
type savedTable struct {
	t    *lua.LTable
	meta lua.LValue
	kv   []lua.LValue // keys and values, in pairs
}

// newLuaEnv makes the state scripts run in: the base (less luaDenied),
// table, string and math libraries, the redis, cjson and bit libraries, and globals that
// can be neither created nor read if missing. No os, io, debug, package,
// channel or coroutine.
func newLuaEnv() *luaEnv {
	env := &luaEnv{}
	L := lua.NewState(lua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       luaCallDepth,
		RegistrySize:        1024,
		RegistryMaxSize:     luaStackSlots,
		RegistryGrowStep:    luaStackSlots / 16, // grown by copying: in few steps
		MinimizeStackMemory: true,
	})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	g := L.G.Global
	for _, name := range luaDenied {
		g.RawSetString(name, lua.LNil)
	}
	str := g.RawGetString("string").(*lua.LTable)
	str.RawSetString("dump", lua.LNil)
	str.RawSetString("rep", L.NewFunction(func(L *lua.LState) int { return env.run.luaRep(L) }))
	str.RawSetString("format", L.NewFunction(luaFormat(str.RawGetString("format"))))
	math := g.RawGetString("math").(*lua.LTable)
	math.RawSetString("random", L.NewFunction(luaRandom))
	math.RawSetString("randomseed", L.NewFunction(func(*lua.LState) int { return 0 }))

	redis := env.redisLib(L)
	g.RawSetString("redis", redis)
	cjson, bit := luaCJSON(L), luaBit(L) // luacjson.go, luabit.go
	g.RawSetString("cjson", cjson)
	g.RawSetString("bit", bit)
	g.RawSetString("KEYS", lua.LNil)
	g.RawSetString("ARGV", lua.LNil)

	// Globals are read-only, as in Redis 7: a script's variables are its
	// locals.
	meta := L.NewTable()
	meta.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Attempt to modify a readonly table")
		return 0
	}))
	meta.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Script attempted to access nonexistent global variable '%s'", L.ToString(2))
		return 0
	}))
	meta.RawSetString("__metatable", lua.LString("The metatable of _G is protected"))
	L.SetMetatable(g, meta)
	env.L = L
	for _, t := range []*lua.LTable{g, str, math, g.RawGetString("table").(*lua.LTable), redis, cjson, bit, L.GetMetatable(lua.LString("")).(*lua.LTable)} {
		saved := savedTable{t: t, meta: t.Metatable}
		t.ForEach(func(k, v lua.LValue) { saved.kv = append(saved.kv, k, v) })
		env.saved = append(env.saved, saved)
	}
	return env
}

// bind readies env for script r, with its KEYS and ARGV.
func (env *luaEnv) bind(r *scriptRun, keys, argv [][]byte) {
	env.run = r
	g := env.L.G.Global
	g.RawSetString("KEYS", luaStrings(env.L, keys))
	g.RawSetString("ARGV", luaStrings(env.L, argv))
}

// reset puts back every table a script can reach (globals, libraries, the
// strings' metatable) as it was made, and the random seed.
func (env *luaEnv) reset() {
	L := env.L
	L.SetTop(0)
	L.RemoveContext()
	L.G.Registry.RawSetString("tmc_rand", lua.LNil)
	env.run = nil
	for _, saved := range env.saved {
		var keys []lua.LValue
		saved.t.ForEach(func(k, _ lua.LValue) { keys = append(keys, k) })
		for _, k := range keys {
			saved.t.RawSet(k, lua.LNil)
		}
		for i := 0; i < len(saved.kv); i += 2 {
			saved.t.RawSet(saved.kv[i], saved.kv[i+1])
		}
		saved.t.Metatable = saved.meta
	}
}

func luaStrings(L *lua.LState, args [][]byte) *lua.LTable {
	t := L.CreateTable(len(args), 0)
	for _, a := range args {
		t.Append(lua.LString(a))
	}
	return t
}

// luaRep is string.rep, refused when the result would pass the script's
// memory bound (one call could otherwise ask for any size at once).
func (r *scriptRun) luaRep(L *lua.LState) int {
	s, n := L.CheckString(1), L.CheckInt64(2)
	if n > 0 && int64(len(s)) > 0 && (n > r.maxMemory || int64(len(s))*n > r.maxMemory) {
		L.RaiseError("not enough memory")
	}
	if n <= 0 {
		L.Push(lua.LString(""))
		return 1
	}
	L.Push(lua.LString(strings.Repeat(s, int(n))))
	return 1
}

// luaFormat wraps string.format so that a width or precision has at most
// two digits, as in Lua 5.1 ("%999999999d" would allocate that much).
func luaFormat(format lua.LValue) lua.LGFunction {
	f := format.(*lua.LFunction)
	return func(L *lua.LState) int {
		spec := L.CheckString(1)
		digits := 0
		for i := 0; i < len(spec); i++ {
			switch c := spec[i]; {
			case '0' <= c && c <= '9':
				if digits++; digits > 2 {
					L.RaiseError("invalid format (width or precision too long)")
				}
			default:
				digits = 0
			}
		}
		n := L.GetTop()
		L.Push(f)
		for i := 1; i <= n; i++ {
			L.Push(L.Get(i))
		}
		L.Call(n, 1)
		return 1
	}
}

// luaRandom is math.random with a fixed seed, as in Redis: a script's
// effects must not depend on when it ran.
func luaRandom(L *lua.LState) int {
	ud, ok := L.G.Registry.RawGetString("tmc_rand").(*lua.LUserData)
	var x *uint64
	if ok {
		x = ud.Value.(*uint64)
	} else {
		x = new(uint64)
		*x = 0x2545F4914F6CDD1D
		ud = L.NewUserData()
		ud.Value = x
		L.G.Registry.RawSetString("tmc_rand", ud)
	}
	*x ^= *x << 13
	*x ^= *x >> 7
	*x ^= *x << 17
	f := float64(*x>>11) / (1 << 53)
	switch L.GetTop() {
	case 0:
		L.Push(lua.LNumber(f))
	case 1:
		m := L.CheckInt(1)
		if m < 1 {
			L.ArgError(1, "interval is empty")
		}
		L.Push(lua.LNumber(math.Floor(f*float64(m)) + 1))
	default:
		lo, hi := L.CheckInt(1), L.CheckInt(2)
		if lo > hi {
			L.ArgError(2, "interval is empty")
		}
		L.Push(lua.LNumber(math.Floor(f*float64(hi-lo+1)) + float64(lo)))
	}
	return 1
}

// redisLib is the table a script reaches the server through.
func (env *luaEnv) redisLib(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	L.SetFuncs(t, map[string]lua.LGFunction{
		"call":  func(L *lua.LState) int { return env.run.luaCall(L, true) },
		"pcall": func(L *lua.LState) int { return env.run.luaCall(L, false) },
		"error_reply": func(L *lua.LState) int {
			L.Push(luaErrorTable(L, "-"+strings.TrimPrefix(L.CheckString(1), "-")))
			return 1
		},
		"status_reply": func(L *lua.LState) int {
			t := L.NewTable()
			t.RawSetString("ok", lua.LString(L.CheckString(1)))
			L.Push(t)
			return 1
		},
		"sha1hex": func(L *lua.LState) int {
			sum := sha1.Sum([]byte(L.CheckString(1)))
			L.Push(lua.LString(hex.EncodeToString(sum[:])))
			return 1
		},
		"log": func(L *lua.LState) int {
			r := env.run
			level := L.CheckInt(1)
			parts := make([]string, 0, L.GetTop()-1)
			for i := 2; i <= L.GetTop(); i++ {
				parts = append(parts, L.ToStringMeta(L.Get(i)).String())
			}
			msg := strings.Join(parts, " ")
			switch {
			case level >= 3:
				r.s.log.Warn("script: "+msg, "sha", r.sha)
			case level >= 2:
				r.s.log.Info("script: "+msg, "sha", r.sha)
			default:
				r.s.log.Debug("script: "+msg, "sha", r.sha)
			}
			return 0
		},
		"setresp": func(L *lua.LState) int {
			switch v := L.CheckInt(1); v {
			case 2, 3:
				env.run.resp3 = v == 3
			default:
				L.RaiseError("RESP version must be 2 or 3.")
			}
			return 0
		},
	})
	for name, v := range map[string]int{"LOG_DEBUG": 0, "LOG_VERBOSE": 1, "LOG_NOTICE": 2, "LOG_WARNING": 3} {
		t.RawSetString(name, lua.LNumber(v))
	}
	t.RawSetString("REDIS_VERSION", lua.LString("7.4.0")) // what INFO reports
	t.RawSetString("REDIS_VERSION_NUM", lua.LNumber(0x070400))
	return t
}

func luaErrorTable(L *lua.LState, msg string) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("err", lua.LString(msg))
	return t
}

// luaCall is redis.call (raise, true) and redis.pcall: it runs a command
// through the command table and converts its reply to Lua. A refused
// command or an error reply is raised by call and returned by pcall, as a
// table with an err field.
func (r *scriptRun) luaCall(L *lua.LState, raise bool) int {
	fail := func(msg string) int {
		if raise {
			L.Error(luaErrorTable(L, msg), 1)
		}
		L.Push(luaErrorTable(L, msg))
		return 1
	}
	n := L.GetTop()
	if n == 0 {
		return fail("ERR Please specify at least one argument for this redis lib call")
	}
	args := make([][]byte, n)
	for i := 1; i <= n; i++ {
		switch v := L.Get(i).(type) {
		case lua.LString:
			args[i-1] = []byte(v)
		case lua.LNumber:
			args[i-1] = []byte(luaNumberArg(v))
		default:
			return fail("ERR Lua redis lib command arguments must be strings or integers")
		}
	}
	reply, msg := r.run(args)
	if msg != "" {
		return fail(msg)
	}
	v, _ := luaFromReply(L, reply)
	if t, ok := v.(*lua.LTable); ok && raise {
		if e, ok := t.RawGetString("err").(lua.LString); ok {
			L.Error(luaErrorTable(L, string(e)), 1)
		}
	}
	L.Push(v)
	return 1
}

// luaNumberArg is how a number argument is sent: as Redis does, with %.17g.
func luaNumberArg(v lua.LNumber) string {
	f := float64(v)
	if f == math.Trunc(f) && math.Abs(f) < 1e17 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', 17, 64)
}

// luaFromReply converts one reply, as the server's handlers write it, to a
// Lua value, and returns what follows it. RESP2: integer → number, bulk →
// string, null → false, status → {ok=...}, error → {err=...}, array →
// table. With redis.setresp(3) also: null → nil, map → {map=...}, set →
// {set=...}, double → {double=...}, boolean → boolean.
func luaFromReply(L *lua.LState, b []byte) (lua.LValue, []byte) {
	kind := b[0]
	end := strings.Index(string(b), "\r\n") // the handlers' own replies: well formed
	line, rest := string(b[1:end]), b[end+2:]
	switch kind {
	case ':':
		n, _ := strconv.ParseInt(line, 10, 64)
		return lua.LNumber(n), rest
	case '+':
		t := L.NewTable()
		t.RawSetString("ok", lua.LString(line))
		return t, rest
	case '-':
		return luaErrorTable(L, line), rest
	case '_':
		return lua.LNil, rest
	case '#':
		return lua.LBool(line == "t"), rest
	case ',':
		f, _ := strconv.ParseFloat(line, 64)
		t := L.NewTable()
		t.RawSetString("double", lua.LNumber(f))
		return t, rest
	case '$':
		n, _ := strconv.Atoi(line)
		if n < 0 {
			return lua.LFalse, rest
		}
		return lua.LString(rest[:n]), rest[n+2:]
	case '*', '~', '%':
		n, _ := strconv.Atoi(line)
		if n < 0 {
			return lua.LFalse, rest
		}
		t := L.CreateTable(n, 0)
		for i := 0; i < n; i++ {
			var v lua.LValue
			v, rest = luaFromReply(L, rest)
			switch kind {
			case '*':
				t.Append(v)
			case '~':
				t.RawSet(v, lua.LTrue)
			case '%':
				var val lua.LValue
				val, rest = luaFromReply(L, rest)
				t.RawSet(v, val)
			}
		}
		if kind == '*' {
			return t, rest
		}
		wrap := L.NewTable()
		wrap.RawSetString(map[byte]string{'~': "set", '%': "map"}[kind], t)
		return wrap, rest
	}
	return lua.LNil, rest // no handler writes other kinds
}

// appendLua appends Lua value v as the script's reply to c: a number is an
// integer (truncated), a string a bulk string, a table with ok or err a
// status or an error, one with double, map or set that type (flattened in
// RESP2), any other table an array of its elements up to the first nil;
// false is null (with redis.setresp(3): false), true 1, nil null.
func (r *scriptRun) appendReply(c *conn, out []byte, v lua.LValue) []byte {
	start := len(out)
	if out, ok := r.appendLua(c, out, v, 0); ok {
		return out
	}
	return resp.AppendError(out[:start], "ERR reached lua stack limit")
}

// appendLua is appendReply's conversion of v at depth; false if the reply
// nests deeper than luaReplyDepth.
func (r *scriptRun) appendLua(c *conn, out []byte, v lua.LValue, depth int) ([]byte, bool) {
	if depth > luaReplyDepth {
		return out, false
	}
	switch v := v.(type) {
	case lua.LNumber:
		f := float64(v)
		if f != f || math.IsInf(f, 0) || f >= math.MaxInt64 || f <= math.MinInt64 {
			return resp.AppendInt(out, int64(math.MinInt64)), true
		}
		return resp.AppendInt(out, int64(f)), true
	case lua.LString:
		return resp.AppendBulkString(out, string(v)), true
	case lua.LBool:
		switch {
		case r.resp3 && c.resp3:
			if v {
				return append(out, "#t\r\n"...), true
			}
			return append(out, "#f\r\n"...), true
		case bool(v):
			return resp.AppendInt(out, 1), true
		case r.resp3:
			return resp.AppendInt(out, 0), true
		}
		return c.appendNull(out), true
	case *lua.LTable:
		if e, ok := v.RawGetString("err").(lua.LString); ok {
			return resp.AppendError(out, oneLine(strings.TrimPrefix(string(e), "-"))), true
		}
		if s, ok := v.RawGetString("ok").(lua.LString); ok {
			return resp.AppendSimple(out, oneLine(string(s))), true
		}
		if d, ok := v.RawGetString("double").(lua.LNumber); ok {
			text := strconv.FormatFloat(float64(d), 'g', 17, 64)
			if c.resp3 {
				return append(append(append(out, ','), text...), "\r\n"...), true
			}
			return resp.AppendBulkString(out, text), true
		}
		if m, ok := v.RawGetString("map").(*lua.LTable); ok {
			var pairs []lua.LValue
			m.ForEach(func(k, val lua.LValue) { pairs = append(pairs, k, val) })
			out = c.appendMap(out, len(pairs)/2)
			for _, x := range pairs {
				var ok bool
				if out, ok = r.appendLua(c, out, x, depth+1); !ok {
					return out, false
				}
			}
			return out, true
		}
		if set, ok := v.RawGetString("set").(*lua.LTable); ok {
			var members []lua.LValue
			set.ForEach(func(k, _ lua.LValue) { members = append(members, k) })
			if c.resp3 {
				out = append(append(out, '~'), strconv.Itoa(len(members))+"\r\n"...)
			} else {
				out = resp.AppendArray(out, len(members))
			}
			for _, x := range members {
				var ok bool
				if out, ok = r.appendLua(c, out, x, depth+1); !ok {
					return out, false
				}
			}
			return out, true
		}
		n := 0
		for v.RawGetInt(n+1) != lua.LNil {
			n++
		}
		out = resp.AppendArray(out, n)
		for i := 1; i <= n; i++ {
			var ok bool
			if out, ok = r.appendLua(c, out, v.RawGetInt(i), depth+1); !ok {
				return out, false
			}
		}
		return out, true
	}
	return c.appendNull(out), true // nil, and what has no reply (functions, userdata)
}

// oneLine makes msg fit a status or error line.
func oneLine(msg string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(msg)
}
