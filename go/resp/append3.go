package resp

// AppendSet appends the header of a RESP3 set of n elements.
func AppendSet(b []byte, n int) []byte { return appendHeader(b, '~', n) }
