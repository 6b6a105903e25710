package server

import (
	"strconv"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
)

// Sharded pub/sub (Redis 7.0): SSUBSCRIBE and SUNSUBSCRIBE are
// cmdSubscribe and cmdUnsubscribe on pubsub.shard, and PUBSUB
// SHARDCHANNELS and SHARDNUMSUB are in cmdPubsub. Without a cluster, as
// in a Redis that is not one, shard channels are plain channels in a
// namespace of their own: SPUBLISH reaches only SSUBSCRIBE's subscribers,
// and no pattern.

// cmdSPublish is SPUBLISH shardchannel message: each subscriber to the
// shard channel gets an smessage; the reply is how many got it.
func cmdSPublish(c *conn, args [][]byte, out []byte) []byte {
	channel, data := args[1], args[2]
	b := pushBatch{from: c.loop, self: c, out: out}
	n := b.message(c.s.pubsub.shard[string(channel)], "smessage", channel, data)
	b.send()
	return resp.AppendInt(b.out, int64(n))
}

// appendSubCounts appends CLIENT LIST's sub=, psub= and ssub= fields:
// how many channels, patterns and shard channels c listens on.
func (c *conn) appendSubCounts(b []byte) []byte {
	var n [3]int
	if c.sub != nil {
		n = [3]int{len(c.sub.channels), len(c.sub.patterns), len(c.sub.shard)}
	}
	b = strconv.AppendInt(append(b, " sub="...), int64(n[0]), 10)
	b = strconv.AppendInt(append(b, " psub="...), int64(n[1]), 10)
	return strconv.AppendInt(append(b, " ssub="...), int64(n[2]), 10)
}
