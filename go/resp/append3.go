package resp

import (
	"math"
	"strconv"
)

// AppendDouble appends a RESP3 double, written as AppendFloatText writes it.
func AppendDouble(b []byte, f float64) []byte {
	b = AppendFloatText(append(b, ','), f)
	return append(b, "\r\n"...)
}

// AppendFloatText appends f as Redis 7.0 prints a double (a sorted set's
// score): "inf", "-inf", or C's %.17g, which Go's 'g' format with 17 digits
// matches.
func AppendFloatText(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	}
	return strconv.AppendFloat(b, f, 'g', 17, 64)
}

// AppendSet appends the header of a RESP3 set of n elements.
func AppendSet(b []byte, n int) []byte { return appendHeader(b, '~', n) }
