package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// Scripts' cjson library, as Redis's lua-cjson with its default settings
// does it: cjson.encode(value) and cjson.decode(text), with cjson.null
// for JSON's null. encoding/json reads the JSON; what it cannot say is
// cjson's: how a Lua table becomes an array or an object, numbers as
// %.14g, and cjson's escapes (it escapes "/" too, and passes other bytes
// through as they are). Neither cjson's settings functions nor its
// encode_keep_buffer are here.

const cjsonMaxDepth = 1000 // cjson's encode_max_depth and decode_max_depth

// luaCJSON makes the cjson table; its null is a userdata of its own.
func luaCJSON(L *lua.LState) *lua.LTable {
	null := L.NewUserData()
	t := L.NewTable()
	t.RawSetString("null", null)
	t.RawSetString("encode", L.NewFunction(func(L *lua.LState) int {
		v := L.CheckAny(1)
		out, err := cjsonEncode(nil, v, null, 1)
		if err != nil {
			L.RaiseError("%s", err.Error())
		}
		L.Push(lua.LString(out))
		return 1
	}))
	t.RawSetString("decode", L.NewFunction(func(L *lua.LState) int {
		text := L.CheckString(1)
		dec := json.NewDecoder(bytes.NewReader([]byte(text)))
		dec.UseNumber()
		v, err := cjsonDecode(L, dec, null, 1)
		if err == nil {
			if _, err = dec.Token(); err == io.EOF {
				L.Push(v)
				return 1
			}
			err = errors.New("Expected the end but found invalid token at character " + strconv.FormatInt(dec.InputOffset()+1, 10))
		}
		L.RaiseError("%s", cjsonDecodeError(err, dec))
		return 0
	}))
	return t
}

// cjsonEncode appends v's JSON to out, as lua-cjson does.
func cjsonEncode(out []byte, v lua.LValue, null *lua.LUserData, depth int) ([]byte, error) {
	switch v := v.(type) {
	case *lua.LNilType:
		return append(out, "null"...), nil
	case lua.LBool:
		return strconv.AppendBool(out, bool(v)), nil
	case lua.LNumber:
		return cjsonNumber(out, float64(v))
	case lua.LString:
		return cjsonString(out, string(v)), nil
	case *lua.LUserData:
		if v == null {
			return append(out, "null"...), nil
		}
	case *lua.LTable:
		if depth > cjsonMaxDepth {
			return out, errors.New("Cannot serialise, excessive nesting (" + strconv.Itoa(depth) + ")")
		}
		n, err := cjsonArrayLength(v)
		if err != nil {
			return out, err
		}
		if n > 0 {
			out = append(out, '[')
			for i := 1; i <= n; i++ {
				if i > 1 {
					out = append(out, ',')
				}
				if out, err = cjsonEncode(out, v.RawGetInt(i), null, depth+1); err != nil {
					return out, err
				}
			}
			return append(out, ']'), nil
		}
		out = append(out, '{')
		first := true
		v.ForEach(func(k, val lua.LValue) {
			if err != nil {
				return
			}
			if !first {
				out = append(out, ',')
			}
			first = false
			switch k := k.(type) {
			case lua.LNumber:
				out = append(out, '"')
				out, err = cjsonNumber(out, float64(k))
				out = append(out, '"')
			case lua.LString:
				out = cjsonString(out, string(k))
			default:
				err = errors.New("Cannot serialise " + k.Type().String() + ": table key must be a number or string")
				return
			}
			if err == nil {
				out, err = cjsonEncode(append(out, ':'), val, null, depth+1)
			}
		})
		return append(out, '}'), err
	}
	return out, errors.New("Cannot serialise " + v.Type().String() + ": type not supported")
}

// cjsonArrayLength is the length of t as a JSON array, or 0 if t is an
// object (or empty, which cjson writes as {}): t is an array if all its
// keys are whole numbers from 1, the holes (null) at most half of it once
// it is longer than 10.
func cjsonArrayLength(t *lua.LTable) (int, error) {
	max, items := 0.0, 0
	array := true
	t.ForEach(func(k, _ lua.LValue) {
		n, ok := k.(lua.LNumber)
		if !ok || math.Floor(float64(n)) != float64(n) || n < 1 {
			array = false
			return
		}
		max = math.Max(max, float64(n))
		items++
	})
	switch {
	case !array:
		return 0, nil
	case max > float64(items)*2 && max > 10:
		return 0, errors.New("Cannot serialise table: excessively sparse array")
	}
	return int(max), nil
}

// cjsonNumber appends f as cjson's %.14g; NaN and infinities are refused.
func cjsonNumber(out []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return out, errors.New("Cannot serialise number: must not be NaN or Inf")
	}
	return strconv.AppendFloat(out, f, 'g', 14, 64), nil
}

// cjsonString appends s quoted with cjson's escapes: the control
// characters, DEL, '"', '\' and '/'.
func cjsonString(out []byte, s string) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		switch b := s[i]; b {
		case '"', '\\', '/':
			out = append(out, '\\', b)
		case '\b':
			out = append(out, `\b`...)
		case '\t':
			out = append(out, `\t`...)
		case '\n':
			out = append(out, `\n`...)
		case '\f':
			out = append(out, `\f`...)
		case '\r':
			out = append(out, `\r`...)
		default:
			if b < 0x20 || b == 0x7f {
				out = append(out, '\\', 'u', '0', '0', hex[b>>4], hex[b&15])
			} else {
				out = append(out, b)
			}
		}
	}
	return append(out, '"')
}

// cjsonDecode reads one JSON value from dec as Lua's: objects and arrays
// as tables, null as null.
func cjsonDecode(L *lua.LState, dec *json.Decoder, null *lua.LUserData, depth int) (lua.LValue, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok := tok.(type) {
	case nil:
		return null, nil
	case bool:
		return lua.LBool(tok), nil
	case string:
		return lua.LString(tok), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(tok), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) { // out of range: ±Inf, as strtod
			return nil, err
		}
		return lua.LNumber(f), nil
	case json.Delim:
		if tok == ']' || tok == '}' {
			return nil, errors.New("Expected value but found invalid token")
		}
		if depth > cjsonMaxDepth {
			return nil, errors.New("Found too many nested data structures (" + strconv.Itoa(depth) + ") at character " + strconv.FormatInt(dec.InputOffset(), 10))
		}
		t := L.NewTable()
		for i := 1; dec.More(); i++ {
			var key lua.LValue = lua.LNumber(i)
			if tok == '{' {
				if key, err = cjsonDecode(L, dec, null, depth+1); err != nil {
					return nil, err
				}
			}
			v, err := cjsonDecode(L, dec, null, depth+1)
			if err != nil {
				return nil, err
			}
			t.RawSet(key, v)
		}
		_, err := dec.Token() // the closing ] or }
		return t, err
	}
	return nil, errors.New("Expected value but found invalid token")
}

// cjsonDecodeError words a decoding error as cjson does, where it can.
func cjsonDecodeError(err error, dec *json.Decoder) string {
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		return "Expected value but found invalid token at character " + strconv.FormatInt(syntax.Offset, 10)
	case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF):
		return "Expected value but found T_END at character " + strconv.FormatInt(dec.InputOffset()+1, 10)
	}
	return err.Error()
}
