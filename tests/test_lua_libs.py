"""Scripts' cjson and bit libraries, side by side with a real redis-server 7.0.

Each script runs on our server and on redis-server, in RESP2 and RESP3, and
must give the same reply, or an error with the same message (Redis's
"user_script:1: ..." up to its " script: <sha>" tail).
"""

from __future__ import annotations

import pytest
import redis
from test_redis_compat import connect

SCRIPTS = [
    # cjson.encode
    "return cjson.encode({})",
    "return cjson.encode({1, 2, 'three', true, false})",
    "return cjson.encode({1, 2, nil, 4})",
    "return cjson.encode({a = {b = {c = 1.5}}})",
    "return cjson.encode({[3] = 'x'})",
    "return cjson.encode({[1] = 1, [20] = 2})",
    "return cjson.encode({[1.5] = 1})",
    "return cjson.encode({0.1, -0.5, 1e20, 2^53, 3, -7, 1/3})",
    "return cjson.encode(string.char(127, 47, 8, 9, 10, 11, 12, 13, 0, 34, 92, 200))",
    "return cjson.encode('héllo')",
    "return cjson.encode(cjson.null)",
    "return cjson.encode(nil)",
    "return cjson.encode(function() end)",
    "return cjson.encode(1/0)",
    "return cjson.encode({[true] = 1})",
    "local t = {} t[1] = t return cjson.encode(t)",
    # cjson.decode
    "return cjson.decode('[1, 2, [3, \"four\"]]')",
    "return cjson.decode('{\"a\": [1, {\"b\": \"c\"}]}').a[2].b",
    "return cjson.decode('[1, null, 3]')",
    "return type(cjson.decode('null'))",
    "return cjson.decode('null') == cjson.null",
    "return cjson.decode('12.75') * 4",
    "return cjson.decode('\"a\\\\u00e9\\\\n\"')",
    "return cjson.decode('true')",
    "return cjson.encode(cjson.decode('{\"a\":[1,2,{\"b\":null}]}'))",
    "return cjson.decode('x')",
    "return cjson.decode('')",
    # bit
    "return {bit.tobit(2^32 + 5.5), bit.tobit(-1), bit.tobit(2^31), bit.tobit('12')}",
    "return {bit.band(0xff, 0x0f0, 7), bit.band(0xff, 0x0f0), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0)}",
    "return {bit.lshift(1, 31), bit.lshift(1, 32), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.arshift(256, 36)}",
    "return {bit.rol(1, 33), bit.ror(1, 1), bit.bswap(0x12345678)}",
    "return {bit.tohex(255), bit.tohex(-1, -4), bit.tohex(0x12345678, 2), bit.tohex(1, 12)}",
    "return bit.band('x')",
]


def run(addr: str, protocol: int) -> list:
    r = connect(addr, protocol)
    try:
        got = []
        for script in SCRIPTS:
            try:
                got.append(r.eval(script, 0))
            except redis.ResponseError as e:
                got.append(("error", str(e).split(" script: ")[0]))
        return got
    finally:
        r.close()


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_cjson_and_bit_reply_as_redis(tcp_server, redis_server, protocol):
    expected = run(redis_server.addr, protocol)
    assert expected[0] == b"{}" and expected[-1][0] == "error"  # bit.band("x")
    ours = run(tcp_server.addr, protocol)
    assert dict(zip(SCRIPTS, ours)) == dict(zip(SCRIPTS, expected))


def test_a_script_cannot_change_the_libraries_for_the_next(tcp_server, redis_server):
    """Redis's cjson and bit are readonly; ours are put back after each script: the next sees them whole."""
    for addr in (tcp_server.addr, redis_server.addr):
        r = connect(addr, 2)
        try:
            try:
                r.eval("cjson.encode = nil bit.band = nil", 0)
            except redis.ResponseError:
                pass  # Redis refuses; ours lets the script go on
            assert r.eval("return {cjson.encode({1}), bit.band(3, 5)}", 0) == [b"[1]", 1]
        finally:
            r.close()
