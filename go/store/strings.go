package store

import (
	"errors"
	"math/big"
	"strings"
	"time"
)

// Swap stores value under key, as Set does, and returns the string that was
// there before (GETSET, SET ... GET). With NX or XX the old value is
// returned whether or not the new one was stored. A list under key is
// neither returned nor replaced: ErrWrongType.
func (s *Store) Swap(key, value []byte, opt SetOptions) (old []byte, had bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.readString(key)
	if err != nil {
		return nil, false, err
	}
	if e != nil {
		old, had = s.value(e), true
	}
	if opt.NX && had || opt.XX && !had {
		return old, had, nil
	}
	if err := s.setLocked(key, e, value, opt); err != nil {
		return nil, false, err
	}
	return old, had, nil
}

// GetEx returns the string stored under key, as Get does, and then gives
// the key the deadline at (if not zero) or no deadline (if persist). A
// deadline not after now deletes the key once it has been read.
func (s *Store) GetEx(key []byte, at time.Time, persist bool) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.readString(key)
	if e == nil {
		return nil, false, err
	}
	v := s.value(e)
	switch {
	case !at.IsZero():
		s.expireLocked(e, unixMilli(at))
	case persist:
		s.setExpire(e, 0)
	}
	return v, true, nil
}

// Errors of IncrByFloat, in Redis's words.
var (
	ErrNotFloat    = errors.New("ERR value is not a valid float")
	ErrFloatResult = errors.New("ERR increment would produce NaN or Infinity")
)

// IncrByFloat adds incr, a decimal number, to the number stored under key
// (0 if absent), keeping its deadline, and returns the new value as stored.
//
// Redis computes this in C's long double, which on x86-64 has a 64-bit
// mantissa, and prints the sum with "%.17Lf" less trailing zeros. A
// big.Float of precision 64, rounding to nearest even, makes the same sums,
// so the stored strings match Redis's: 0.1 + 0.2 is "0.3", not
// "0.30000000000000004".
func (s *Store) IncrByFloat(key, incr []byte) ([]byte, error) {
	d, ok := parseLongDouble(incr)
	if !ok {
		return nil, ErrNotFloat
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(key)
	n := new(big.Float).SetPrec(longDoublePrec)
	if e != nil {
		if e.is(isObject) {
			return nil, ErrWrongType
		}
		if n, ok = parseLongDouble(s.value(e)); !ok {
			return nil, ErrNotFloat
		}
	}
	v, err := addLongDouble(n, d)
	if err != nil {
		return nil, err
	}
	return v, s.setLocked(key, e, v, SetOptions{KeepTTL: true})
}

// addLongDouble adds d to n, both long doubles, and returns the sum as
// Redis stores it, or ErrFloatResult (INCRBYFLOAT, HINCRBYFLOAT).
func addLongDouble(n, d *big.Float) ([]byte, error) {
	n.Add(n, d)
	if n.IsInf() || n.MantExp(nil) > longDoubleMaxExp {
		return nil, ErrFloatResult
	}
	v := formatLongDouble(n)
	if len(v) > maxFloatLen {
		return nil, ErrFloatResult
	}
	return v, nil
}

const (
	longDoublePrec   = 64    // mantissa bits of x87 extended precision
	longDoubleMaxExp = 16384 // |x| < 2**16384, or it is infinite
	maxFloatLen      = 5120  // Redis's MAX_LONG_DOUBLE_CHARS
)

// parseLongDouble parses what Redis's string2ld accepts: a decimal or
// hexadecimal number with an optional sign and exponent, or infinity,
// without spaces, rounded to long double precision.
func parseLongDouble(b []byte) (*big.Float, bool) {
	if len(b) == 0 || len(b) >= maxFloatLen {
		return nil, false
	}
	text := string(b)
	digits := strings.TrimLeft(text, "+-")
	base := 10
	if len(digits) > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X') {
		base = 0 // big.Float reads the 0x prefix itself, only in base 0
	}
	if strings.ContainsAny(text, "_ \t\r\n") || len(digits) < len(text)-1 {
		return nil, false // base 0 would take underscores; strtold takes one sign
	}
	if lower := strings.ToLower(digits); lower == "inf" || lower == "infinity" {
		text = text[:len(text)-len(digits)] + "Inf"
	}
	f, _, err := big.ParseFloat(text, base, longDoublePrec, big.ToNearestEven)
	if err != nil || !f.IsInf() && f.MantExp(nil) > longDoubleMaxExp {
		return nil, false
	}
	return f, true
}

// formatLongDouble prints f as C's "%.17Lf" does, then drops trailing
// zeros and a trailing point.
func formatLongDouble(f *big.Float) []byte {
	v := []byte(f.Text('f', 17))
	for v[len(v)-1] == '0' {
		v = v[:len(v)-1]
	}
	if v[len(v)-1] == '.' {
		v = v[:len(v)-1]
	}
	if string(v) == "-0" { // a tiny negative sum, below the 17th decimal: Redis prints 0
		v = v[1:]
	}
	return v
}
