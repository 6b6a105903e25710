module github.com/tiny-mp-cache/tiny-mp-cache

go 1.22

// tidwall/btree: an ordered index of keys, so KEYS "prefix*" costs
// O(log n + matches) instead of a scan of every key.
require github.com/tidwall/btree v1.8.2
