package server

import (
	"strings"
	"testing"
)

func TestShardChannelsAreANamespaceOfTheirOwn(t *testing.T) {
	s := start(t, tcpConfig())
	sub := dialRaw(t, s, false)
	pub := dialRaw(t, s, false)
	sub.send("SSUBSCRIBE", "a", "b", "a")
	sub.expect("[ssubscribe a 1]", "[ssubscribe b 2]", "[ssubscribe a 2]")
	sub.send("SUBSCRIBE", "a")
	sub.expect("[subscribe a 1]") // SUBSCRIBE counts channels and patterns, not shard channels
	sub.send("SSUBSCRIBE", "c")
	sub.expect("[ssubscribe c 3]")
	if got := pub.do("SPUBLISH", "a", "m1"); got != "1" {
		t.Errorf("SPUBLISH a: %s, want 1", got)
	}
	sub.expect("[smessage a m1]")
	if got := pub.do("PUBLISH", "b", "m2"); got != "0" {
		t.Errorf("PUBLISH to a shard channel only: %s, want 0", got)
	}
	for cmd, want := range map[string]string{
		"PUBSUB SHARDCHANNELS":      "[a b c]",
		"PUBSUB SHARDCHANNELS [ab]": "[a b]",
		"PUBSUB SHARDNUMSUB a x":    "[a 1 x 0]",
		"PUBSUB CHANNELS":           "[a]",
		"PUBSUB SHARDCHANNELS a b":  "ERR unknown subcommand or wrong number of arguments for 'SHARDCHANNELS'. Try PUBSUB HELP.",
		"INFO stats":                "pubsubshard_channels:3",
	} {
		if got := pub.do(strings.Fields(cmd)...); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", cmd, got, want)
		}
	}
	if got := pub.do("CLIENT", "LIST"); !strings.Contains(got, "flags=P db=0 sub=1 psub=0 ssub=3 ") {
		t.Errorf("CLIENT LIST does not show the subscriber's counts: %q", got)
	}
	sub.send("UNSUBSCRIBE")
	sub.expect("[unsubscribe a 0]")
	if got := sub.do("GET", "x"); !strings.Contains(got, "only (P|S)SUBSCRIBE") {
		t.Errorf("GET with shard subscriptions left in RESP2: %q, want refused", got)
	}
	sub.send("SUNSUBSCRIBE")
	sub.expect("[sunsubscribe a 2]", "[sunsubscribe b 1]", "[sunsubscribe c 0]")
	if got := sub.do("GET", "x"); got != "nil" {
		t.Errorf("GET after SUNSUBSCRIBE: %q", got)
	}
	if got := pub.do("PUBSUB", "SHARDNUMSUB", "a"); got != "[a 0]" {
		t.Errorf("PUBSUB SHARDNUMSUB a after SUNSUBSCRIBE: %q", got)
	}
}
