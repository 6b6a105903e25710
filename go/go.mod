module github.com/tiny-mp-cache/tiny-mp-cache

go 1.23

// tidwall/btree: an ordered index of keys, so KEYS "prefix*" costs
// O(log n + matches) instead of a scan of every key.
require github.com/tidwall/btree v1.8.2

// yuin/gopher-lua: Lua 5.1 (the dialect Redis scripts use) in pure Go,
// no cgo, for EVAL and SCRIPT.
require github.com/yuin/gopher-lua v1.1.2
