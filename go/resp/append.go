package resp

import "strconv"

// AppendSimple appends a simple string reply, such as "+OK".
func AppendSimple(b []byte, s string) []byte {
	b = append(b, '+')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// AppendError appends an error reply. msg should start with an error code
// such as "ERR" or "WRONGTYPE"; CR and LF in it are replaced by spaces.
func AppendError(b []byte, msg string) []byte {
	b = append(b, '-')
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return append(b, '\r', '\n')
}

// AppendInt appends an integer reply.
func AppendInt(b []byte, n int64) []byte {
	b = append(b, ':')
	b = strconv.AppendInt(b, n, 10)
	return append(b, '\r', '\n')
}

// AppendBulk appends a bulk string reply.
func AppendBulk(b []byte, v []byte) []byte {
	b = appendHeader(b, '$', len(v))
	b = append(b, v...)
	return append(b, '\r', '\n')
}

// AppendBulkHeader appends the header of a bulk string reply of n bytes,
// for a caller that sends the bytes and their CRLF itself.
func AppendBulkHeader(b []byte, n int) []byte { return appendHeader(b, '$', n) }

// AppendBulkString appends a bulk string reply.
func AppendBulkString(b []byte, v string) []byte {
	b = appendHeader(b, '$', len(v))
	b = append(b, v...)
	return append(b, '\r', '\n')
}

// AppendNull appends the null bulk string, RESP2's "no such value".
func AppendNull(b []byte) []byte { return append(b, "$-1\r\n"...) }

// AppendNullArray appends the null array, the timeout reply of BLPOP.
func AppendNullArray(b []byte) []byte { return append(b, "*-1\r\n"...) }

// AppendNull3 appends RESP3's null, which replaces both RESP2 nulls.
func AppendNull3(b []byte) []byte { return append(b, "_\r\n"...) }

// AppendMap appends the header of a RESP3 map of n key/value pairs.
func AppendMap(b []byte, n int) []byte { return appendHeader(b, '%', n) }

// AppendArray appends the header of an array of n elements.
func AppendArray(b []byte, n int) []byte { return appendHeader(b, '*', n) }

// AppendCommand appends a command as an array of bulk strings, the form
// clients send.
func AppendCommand(b []byte, args ...[]byte) []byte {
	b = AppendArray(b, len(args))
	for _, a := range args {
		b = AppendBulk(b, a)
	}
	return b
}

func appendHeader(b []byte, kind byte, n int) []byte {
	b = append(b, kind)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}
