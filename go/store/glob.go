package store

// Match reports whether s matches the Redis glob pattern:
// '*' matches any run of bytes, '?' any one byte, "[abc]", "[a-z]" and
// "[^abc]" a byte from (or not from) a class, and '\' escapes the next byte.
// Like Redis, it works on bytes, not runes.
func Match(pattern, s string) bool {
	// Classic greedy matching with one backtrack point: the most recent '*'.
	var p, i int
	star, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			switch pattern[p] {
			case '*':
				star, starI = p, i
				p++
				continue
			case '?':
				p++
				i++
				continue
			case '[':
				if ok, next := matchClass(pattern, p, s[i]); ok {
					p, i = next, i+1
					continue
				}
			case '\\':
				if p+1 < len(pattern) && pattern[p+1] == s[i] {
					p, i = p+2, i+1
					continue
				}
				if p+1 == len(pattern) && s[i] == '\\' {
					p, i = p+1, i+1
					continue
				}
			default:
				if pattern[p] == s[i] {
					p, i = p+1, i+1
					continue
				}
			}
		}
		if star < 0 {
			return false
		}
		// Let the last '*' swallow one more byte and try again from there.
		starI++
		p, i = star+1, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchClass matches c against the class that starts at pattern[p] == '['.
// It returns whether c is in the class and the index just past the class.
// An unterminated class runs to the end of the pattern, as in Redis.
func matchClass(pattern string, p int, c byte) (bool, int) {
	p++
	negate := p < len(pattern) && pattern[p] == '^'
	if negate {
		p++
	}
	found := false
	for p < len(pattern) && pattern[p] != ']' {
		switch {
		case pattern[p] == '\\' && p+1 < len(pattern):
			p++
			found = found || pattern[p] == c
		case p+2 < len(pattern) && pattern[p+1] == '-' && pattern[p+2] != ']':
			lo, hi := pattern[p], pattern[p+2]
			if lo > hi {
				lo, hi = hi, lo
			}
			found = found || (lo <= c && c <= hi)
			p += 2
		default:
			found = found || pattern[p] == c
		}
		p++
	}
	if p < len(pattern) {
		p++ // skip ']'
	}
	return found != negate, p
}

// literalPrefix returns the bytes every match of pattern must start with.
func literalPrefix(pattern string) string {
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '*', '?', '[', '\\':
			return pattern[:i]
		}
	}
	return pattern
}
