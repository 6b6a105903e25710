package server

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// These run on both loops: the epoll loops and the portable one
// (-tags tmc_portable), which delivers messages through a pusher.

// numsub is PUBSUB NUMSUB channel's count, read on c.
func numsub(c *respConn, channel string) string {
	c.t.Helper()
	got := c.do("PUBSUB", "NUMSUB", channel)
	return strings.TrimSuffix(strings.TrimPrefix(got, "["+channel+" "), "]")
}

// waitNumsub waits up to 10 s for channel to have want subscribers.
func waitNumsub(t *testing.T, c *respConn, channel, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for numsub(c, channel) != want {
		if time.Now().After(deadline) {
			t.Fatalf("PUBSUB NUMSUB %s is %s after 10 s; want %s", channel, numsub(c, channel), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRESP2SubscriberModeAllowsOnlyRedisSubset(t *testing.T) {
	s := start(t, tcpConfig())
	c := dialRaw(t, s, false)
	c.send("SUBSCRIBE", "a", "b")
	c.expect("[subscribe a 1]", "[subscribe b 2]")
	refused := "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
	for _, tc := range []struct {
		cmd  []string
		want string
	}{
		{[]string{"GET", "x"}, fmt.Sprintf(refused, "get")},
		{[]string{"PUBLISH", "a", "m"}, fmt.Sprintf(refused, "publish")},
		{[]string{"PUBSUB", "NUMSUB", "a"}, fmt.Sprintf(refused, "pubsub|numsub")},
		{[]string{"PING"}, "[pong ]"},
		{[]string{"PING", "hi"}, "[pong hi]"},
		{[]string{"PSUBSCRIBE", "h*"}, "[psubscribe h* 3]"},
		{[]string{"PUNSUBSCRIBE"}, "[punsubscribe h* 2]"},
		{[]string{"PUNSUBSCRIBE"}, "[punsubscribe nil 2]"},
	} {
		if got := c.do(tc.cmd...); got != tc.want {
			t.Errorf("%v in subscriber mode: %q, want %q", tc.cmd, got, tc.want)
		}
	}
	c.send("UNSUBSCRIBE")
	c.expect("[unsubscribe a 1]", "[unsubscribe b 0]")
	if got := c.do("GET", "x"); got != "nil" { // out of subscriber mode
		t.Errorf("GET after UNSUBSCRIBE: %q", got)
	}
	c.do("SUBSCRIBE", "a")
	c.expect() // the confirmation was do's reply
	if got := c.do("RESET"); got != "RESET" {
		t.Fatalf("RESET: %q", got)
	}
	if got := numsub(c, "a"); got != "0" {
		t.Errorf("RESET left %s subscribers of a", got)
	}
	c.quiet()
}

func TestRESP3MessagesArePushesAmongReplies(t *testing.T) {
	s := start(t, tcpConfig())
	c := dialRaw(t, s, true)
	c.expect() // HELLO's map was read
	if got := c.do("SUBSCRIBE", "a"); got != ">[subscribe a 1]" {
		t.Fatalf("SUBSCRIBE: %q", got)
	}
	if got := c.do("GET", "x"); got != "nil" { // no subscriber mode in RESP3
		t.Fatalf("GET while subscribed: %q", got)
	}
	// As Redis, the message to itself comes before PUBLISH's reply.
	c.send("PUBLISH", "a", "m")
	c.expect(">[message a m]", "1")
	if got := c.do("UNSUBSCRIBE", "nothere"); got != ">[unsubscribe nothere 1]" {
		t.Fatalf("UNSUBSCRIBE nothere: %q", got)
	}
	c.send("UNSUBSCRIBE")
	c.expect(">[unsubscribe a 0]")
	c.send("UNSUBSCRIBE")
	c.expect(">[unsubscribe nil 0]")
	c.quiet()
}

func TestPatternsUseTheGlobMatcher(t *testing.T) {
	s := start(t, tcpConfig())
	sub := dialRaw(t, s, false)
	pub := dialRaw(t, s, false)
	sub.send("PSUBSCRIBE", "h?llo", "news.[ab]*", "x")
	sub.expect("[psubscribe h?llo 1]", "[psubscribe news.[ab]* 2]", "[psubscribe x 3]")
	sub.send("SUBSCRIBE", "hello")
	sub.expect("[subscribe hello 4]")
	for _, tc := range []struct {
		channel, receivers string
		got                []string
	}{
		{"hello", "2", []string{"[message hello m]", "[pmessage h?llo hello m]"}},
		{"hallo", "1", []string{"[pmessage h?llo hallo m]"}},
		{"news.b1", "1", []string{"[pmessage news.[ab]* news.b1 m]"}},
		{"news.c1", "0", nil},
		{"hhello", "0", nil},
	} {
		if got := pub.do("PUBLISH", tc.channel, "m"); got != tc.receivers {
			t.Errorf("PUBLISH %s: %s receivers, want %s", tc.channel, got, tc.receivers)
		}
		sub.expect(tc.got...)
	}
	for cmd, want := range map[string]string{
		"PUBSUB NUMPAT":         "3",
		"PUBSUB CHANNELS":       "[hello]",
		"PUBSUB CHANNELS h*":    "[hello]",
		"PUBSUB CHANNELS x*":    "[]",
		"PUBSUB NUMSUB hello x": "[hello 1 x 0]",
		"PUBSUB NUMSUB":         "[]",
		"PUBSUB FOO":            "ERR unknown subcommand 'FOO'. Try PUBSUB HELP.",
		"PUBSUB CHANNELS a b":   "ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.",
		"PUBSUB NUMPAT x":       "ERR unknown subcommand or wrong number of arguments for 'NUMPAT'. Try PUBSUB HELP.",
	} {
		if got := pub.do(strings.Fields(cmd)...); got != want {
			t.Errorf("%s: %q, want %q", cmd, got, want)
		}
	}
}

// A message reaches subscribers on every loop, RESP2 and RESP3 alike, and
// each receives a publisher's messages in the order it published them.
func TestPublishReachesSubscribersOnEveryLoop(t *testing.T) {
	cfg := tcpConfig()
	cfg.Loops = 3
	s := start(t, cfg)
	var subs []*respConn
	for i := range 5 {
		c := dialRaw(t, s, i%2 == 1)
		if i%2 == 1 {
			c.expect() // HELLO 3's map was read
		}
		c.send("SUBSCRIBE", "ch")
		if got := c.read(); !strings.HasSuffix(got, "[subscribe ch 1]") {
			t.Fatalf("SUBSCRIBE: %q", got)
		}
		subs = append(subs, c)
	}
	pub := dialRaw(t, s, false)
	onLoops := map[*loop]bool{}
	for _, l := range s.loops {
		onLoops[l] = l.load.Load() > 0
	}
	if len(onLoops) != 3 || !onLoops[s.loops[0]] || !onLoops[s.loops[1]] || !onLoops[s.loops[2]] {
		t.Fatalf("clients per loop %v: want some on each", onLoops)
	}
	const n = 500
	var wg sync.WaitGroup
	errs := make(chan error, len(subs))
	for i, c := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prefix := map[bool]string{false: "[", true: ">["}[i%2 == 1]
			for j := range n {
				c.nc.SetDeadline(time.Now().Add(10 * time.Second))
				got, err := readValue(c.r)
				if want := fmt.Sprintf("%smessage ch %d]", prefix, j); err != nil || got != want {
					errs <- fmt.Errorf("subscriber %d, message %d: %q, %v; want %q", i, j, got, err, want)
					return
				}
			}
		}()
	}
	for j := range n {
		pub.send("PUBLISH", "ch", fmt.Sprint(j))
	}
	for j := range n {
		if got := pub.read(); got != "5" {
			t.Fatalf("PUBLISH %d reached %s subscribers, want 5", j, got)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A subscriber that reads nothing is closed once its unread messages pass
// max_output_pubsub, with its subscriptions; the others get every message.
func TestSlowSubscriberIsClosedAtThePubsubLimit(t *testing.T) {
	cfg := tcpConfig()
	cfg.MaxOutputPubsub = 1 << 20
	s := start(t, cfg)
	slow := dialRaw(t, s, false)
	slow.send("SUBSCRIBE", "ch")
	slow.expect("[subscribe ch 1]")
	fast := dialRaw(t, s, true)
	fast.expect()
	fast.send("SUBSCRIBE", "ch")
	fast.expect(">[subscribe ch 1]")
	pub := dialRaw(t, s, false)

	// The publisher waits for the fast subscriber to get each message: it
	// keeps up, with never more than one unread.
	const n, size = 600, 64 << 10 // 38 MB, past any socket buffers
	payload := strings.Repeat("p", size)
	received := make(chan error)
	go func() {
		for j := range n {
			fast.nc.SetDeadline(time.Now().Add(20 * time.Second))
			v, err := readValue(fast.r)
			if err == nil && v != ">[message ch "+payload+"]" {
				err = fmt.Errorf("message %d: %.40q", j, v)
			}
			received <- err
			if err != nil {
				return
			}
		}
	}()
	for range n {
		pub.send("PUBLISH", "ch", payload)
		pub.read()
		if err := <-received; err != nil {
			t.Fatalf("the fast subscriber: %v", err)
		}
	}
	waitNumsub(t, pub, "ch", "1") // the slow one is gone
	if got := clients(s); got != 2 {
		t.Errorf("%d clients; want 2 (the slow subscriber closed)", got)
	}
	if got := pub.do("CONFIG", "GET", "client-output-buffer-limit"); !strings.Contains(got, " pubsub 1048576 8388608 60]") {
		t.Errorf("CONFIG GET client-output-buffer-limit: %q", got)
	}
}

// A subscriber that hangs up, or is killed, leaves no subscription behind.
func TestClosedSubscriberLeavesNoSubscription(t *testing.T) {
	s := start(t, tcpConfig())
	pub := dialRaw(t, s, false)
	c := dialRaw(t, s, false)
	c.send("SUBSCRIBE", "ch")
	c.expect("[subscribe ch 1]")
	c.send("PSUBSCRIBE", "c*")
	c.expect("[psubscribe c* 2]")
	c.nc.Close()
	waitNumsub(t, pub, "ch", "0")
	if got := pub.do("PUBSUB", "NUMPAT"); got != "0" {
		t.Errorf("PUBSUB NUMPAT after the subscriber left: %s", got)
	}
	if got := pub.do("PUBLISH", "ch", "m"); got != "0" {
		t.Errorf("PUBLISH reached %s", got)
	}
}

func TestDefaultPubsubOutputLimitIsRedis(t *testing.T) {
	s := start(t, tcpConfig())
	c := dialRaw(t, s, false)
	if got := c.do("CONFIG", "GET", "client-output-buffer-limit"); got != "[client-output-buffer-limit normal 1073741824 67108864 60 pubsub 33554432 8388608 60]" {
		t.Errorf("CONFIG GET client-output-buffer-limit: %q", got)
	}
}

// A subscriber that stays past max_output_pubsub_soft for its seconds is
// closed, while under the hard limit all along.
func TestSubscriberPastTheSoftLimitIsClosedInTime(t *testing.T) {
	cfg := tcpConfig()
	cfg.MaxOutputPubsubSoft = 256 << 10
	cfg.MaxOutputPubsubSoftSeconds = 1
	s := start(t, cfg)
	slow := dialRaw(t, s, false)
	slow.send("SUBSCRIBE", "ch")
	slow.expect("[subscribe ch 1]")
	pub := dialRaw(t, s, false)
	payload := strings.Repeat("p", 64<<10)
	// Past any socket buffers, then a message now and then: the portable
	// loop checks the soft limit as messages are queued.
	for range 300 { // 19 MB: under the hard limit's 32 MB
		pub.do("PUBLISH", "ch", payload)
	}
	deadline := time.Now().Add(20 * time.Second)
	for numsub(pub, "ch") != "0" {
		if time.Now().After(deadline) {
			t.Fatal("the subscriber past the soft limit is still there after 20 s")
		}
		pub.do("PUBLISH", "ch", "tick")
		time.Sleep(50 * time.Millisecond)
	}
}
