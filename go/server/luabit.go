package server

import (
	"math"
	"math/bits"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Scripts' bit library, LuaJIT's BitOp as Redis bundles it: 32-bit
// operations on numbers, whose results are signed 32-bit numbers.

// luaBit makes the bit table.
func luaBit(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	unary := func(op func(b uint32) uint32) func(string) lua.LGFunction {
		return func(name string) lua.LGFunction {
			return func(L *lua.LState) int { return bitReturn(L, op(bitArg(L, name, 1))) }
		}
	}
	fold := func(op func(a, b uint32) uint32) func(string) lua.LGFunction {
		return func(name string) lua.LGFunction {
			return func(L *lua.LState) int {
				r := bitArg(L, name, 1)
				for i := 2; i <= L.GetTop(); i++ {
					r = op(r, bitArg(L, name, i))
				}
				return bitReturn(L, r)
			}
		}
	}
	shift := func(op func(b uint32, n uint) uint32) func(string) lua.LGFunction {
		return func(name string) lua.LGFunction {
			return func(L *lua.LState) int { return bitReturn(L, op(bitArg(L, name, 1), uint(bitArg(L, name, 2)&31))) }
		}
	}
	for name, f := range map[string]func(string) lua.LGFunction{
		"tobit":   unary(func(b uint32) uint32 { return b }),
		"bnot":    unary(func(b uint32) uint32 { return ^b }),
		"bswap":   unary(bits.ReverseBytes32),
		"band":    fold(func(a, b uint32) uint32 { return a & b }),
		"bor":     fold(func(a, b uint32) uint32 { return a | b }),
		"bxor":    fold(func(a, b uint32) uint32 { return a ^ b }),
		"lshift":  shift(func(b uint32, n uint) uint32 { return b << n }),
		"rshift":  shift(func(b uint32, n uint) uint32 { return b >> n }),
		"arshift": shift(func(b uint32, n uint) uint32 { return uint32(int32(b) >> n) }),
		"rol":     shift(func(b uint32, n uint) uint32 { return bits.RotateLeft32(b, int(n)) }),
		"ror":     shift(func(b uint32, n uint) uint32 { return bits.RotateLeft32(b, -int(n)) }),
		"tohex":   bitToHex,
	} {
		t.RawSetString(name, L.NewFunction(f(name)))
	}
	return t
}

// bitArg is argument i of the function name as BitOp reads it: a number
// (or numeric string) rounded to the nearest integer, ties to even,
// modulo 2^32; anything else is Lua's "bad argument" error.
func bitArg(L *lua.LState, name string, i int) uint32 {
	v := L.Get(i)
	n, ok := v.(lua.LNumber)
	if s, isString := v.(lua.LString); isString {
		n, ok = lua.LVAsNumber(s), isLuaNumber(string(s))
	}
	if !ok {
		L.RaiseError("bad argument #%d to '%s' (number expected, got %s)", i, name, luaTypeName(v))
	}
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return uint32(int64(math.Mod(math.RoundToEven(f), 1<<32)))
}

// isLuaNumber reports whether Lua reads s as a number, as LVAsNumber does.
func isLuaNumber(s string) bool {
	s = strings.Trim(s, " \t\n")
	_, errInt := strconv.ParseInt(s, 0, 64)
	_, errFloat := strconv.ParseFloat(s, 64)
	return errInt == nil || errFloat == nil
}

// luaTypeName is v's type as Lua's errors name it ("no value" if missing).
func luaTypeName(v lua.LValue) string {
	if v == lua.LNil {
		return "no value"
	}
	return v.Type().String()
}

func bitReturn(L *lua.LState, b uint32) int {
	L.Push(lua.LNumber(int32(b)))
	return 1
}

// bitToHex is tohex(x [, n]): x's last n hex digits (8 if n is missing),
// in upper case if n is negative.
func bitToHex(name string) lua.LGFunction {
	return func(L *lua.LState) int {
		b := bitArg(L, name, 1)
		n := int32(8)
		if L.GetTop() >= 2 {
			n = int32(bitArg(L, name, 2))
		}
		digits := "0123456789abcdef"
		if n < 0 {
			n, digits = -n, "0123456789ABCDEF"
		}
		n = min(n, 8)
		buf := make([]byte, n)
		for i := n - 1; i >= 0; i-- {
			buf[i] = digits[b&15]
			b >>= 4
		}
		L.Push(lua.LString(buf))
		return 1
	}
}
