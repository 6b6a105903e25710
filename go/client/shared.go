package client

import "github.com/tiny-mp-cache/tiny-mp-cache/resp"

// ValueIn sends name key, a command whose reply is a value or nil (as
// GET's), and reads the value into memory from alloc, as GetIn does; with
// retry the command is resent once on a fresh connection if the one it
// went on turns out broken. The fast path of TMC.GET and TMC.GETDEL
// (values in shared memory: see go/server/shared.go).
func (c *Client) ValueIn(name []byte, retry bool, key []byte, alloc func(n int) []byte) (value []byte, ok bool, err error) {
	err = c.call(retry, func(r *resp.ReplyReader) error {
		value, ok, err = readBulkIn(r, alloc)
		return err
	}, name, key)
	return value, ok, err
}
