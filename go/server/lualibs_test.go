package server

import "testing"

// TestScriptCJSONAndBit: replies redis-server 7.0.15 gives for scripts that
// use cjson and bit (tests/test_lua_libs.py runs a longer table side by
// side with it).
func TestScriptCJSONAndBit(t *testing.T) {
	s := start(t, tcpConfig())
	c := dial(t, s)
	for _, tc := range []struct{ script, want string }{
		{"return cjson.encode({})", "$2\r\n{}\r\n"},
		{"return cjson.encode({1, 'a/b', nil, true})", "$20\r\n[1,\"a\\/b\",null,true]\r\n"},
		{"return cjson.encode({a = {0.1, 1e20}})", "$17\r\n{\"a\":[0.1,1e+20]}\r\n"},
		{"return cjson.encode({[1] = 1, [20] = 2})", "-ERR user_script:1: Cannot serialise table: excessively sparse array\r\n"},
		{"return cjson.encode(function() end)", "-ERR user_script:1: Cannot serialise function: type not supported\r\n"},
		{"return cjson.decode('{\"a\": [1, null, \"x\"]}').a", "*3\r\n:1\r\n$-1\r\n$1\r\nx\r\n"},
		{"return cjson.decode('null') == cjson.null", ":1\r\n"},
		{"return cjson.decode('[1] x')", "-ERR user_script:1: Expected the end but found invalid token at character 5\r\n"},
		{"return {bit.tobit(2^32 + 5.5), bit.band(0xff, 0xf0, 0x30), bit.bor(1, 2), bit.bxor(5, 3), bit.bnot(0)}", "*5\r\n:6\r\n:48\r\n:3\r\n:6\r\n:-1\r\n"},
		{"return {bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.tohex(-1, -4), bit.tohex(255)}", "*5\r\n:-2147483648\r\n:15\r\n:-16\r\n$4\r\nFFFF\r\n$8\r\n000000ff\r\n"},
		{"return bit.band('x')", "-ERR user_script:1: bad argument #1 to 'band' (number expected, got string)\r\n"},
	} {
		if got := withoutSHA(do(t, c, "EVAL", tc.script, "0")); got != tc.want {
			t.Errorf("%s = %q; want %q", tc.script, got, tc.want)
		}
	}
	// A script that changes a library leaves it whole for the next.
	do(t, c, "EVAL", "cjson.encode = nil bit.band = nil", "0")
	if got := do(t, c, "EVAL", "return {cjson.encode({1}), bit.band(3, 5)}", "0"); got != "*2\r\n$3\r\n[1]\r\n:1\r\n" {
		t.Errorf("the libraries after a script changed them: %q", got)
	}
}
