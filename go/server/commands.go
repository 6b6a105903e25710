package server

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tiny-mp-cache/tiny-mp-cache/resp"
	"github.com/tiny-mp-cache/tiny-mp-cache/store"
)

// A command is one entry of the command table.
type command struct {
	// arity counts the command name too. A positive arity is exact; a
	// negative one is a minimum, as in Redis's COMMAND reply.
	arity int
	// noAuth commands run before the client has authenticated.
	noAuth bool
	// closes commands end the connection once their reply is written.
	closes bool
	// unqueued commands run at once inside MULTI; the others are queued
	// for EXEC.
	unqueued bool
	// flags and keys are reported by COMMAND, for clients that look.
	flags []string
	keys  keySpec
	// moreKeys finds the keys that keys cannot say, whose places depend
	// on other arguments (ZUNION numkeys key ..., XREAD ... STREAMS key
	// ... id ...); COMMAND reports it as Redis does, by the movablekeys
	// flag.
	moreKeys func(args [][]byte) [][]byte
	// run appends the reply for args (args[0] is the name) to out.
	run func(c *conn, args [][]byte, out []byte) []byte
	// id indexes commandNames and a server's per-command stats.
	id int
}

// readOnly reports whether cmd only reads: it changes no data.
func (cmd *command) readOnly() bool { return slices.Contains(cmd.flags, "readonly") }

// keySpec says which arguments are keys: first, last (negative counts from
// the end) and the step between them, as in COMMAND's reply.
type keySpec struct{ first, last, step int }

var (
	// The flags are Redis 7.0's, which tests/test_command_info.py checks.
	ro     = []string{"readonly", "fast"}
	roSlow = []string{"readonly"}

	rw         = []string{"write"}
	rwFast     = []string{"write", "fast"}            // writes that add no data
	rwGrow     = []string{"write", "denyoom"}         // writes that may add data (denyoom: Redis refuses them when full)
	rwGrowFast = []string{"write", "denyoom", "fast"} // the same, in O(1)
	blocking   = []string{"write", "denyoom", "noscript", "blocking"}
	// blockingPop is blocking without denyoom: BLPOP and BRPOP only take.
	blockingPop     = []string{"write", "noscript", "blocking"}
	blockingPopFast = []string{"write", "noscript", "blocking", "fast"} // BZPOPMIN, BZPOPMAX

	txFlags     = []string{"noscript", "loading", "stale", "fast", "allow_busy"}
	connFlags   = []string{"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"} // AUTH, HELLO, QUIT, RESET
	stateFlags  = []string{"noscript", "loading", "stale", "fast"}                          // TMC.STAGE, TMC.RELEASE: the connection's, not the data's
	anyTime     = []string{"loading", "stale"}                                              // runs while Redis is loading its data
	anyTimeFast = []string{"fast", "loading", "stale"}
	subFlags    = []string{"pubsub", "noscript", "loading", "stale"}
	evalFlags   = []string{"noscript", "stale", "skip_monitor", "no_mandatory_keys", "movablekeys"}

	oneKey   = keySpec{1, 1, 1}
	allKeys  = keySpec{1, -1, 1}
	keyPairs = keySpec{1, -1, 2}
	keysThen = keySpec{1, -2, 1} // keys, then one more argument
	twoKeys  = keySpec{1, 2, 1}
)

// commands maps lower-case command names to their entries. It is the only
// place that knows command names. commandNames lists them in order, by id.
var (
	commands     map[string]*command
	commandNames []string
)

func init() {
	commands = map[string]*command{
		// Strings and keys.
		"get":      {arity: 2, flags: ro, keys: oneKey, run: cmdGet},
		"set":      {arity: -3, flags: rwGrow, keys: oneKey, run: cmdSet},
		"getdel":   {arity: 2, flags: rwFast, keys: oneKey, run: cmdGetDel},
		"mget":     {arity: -2, flags: ro, keys: allKeys, run: cmdMGet},
		"mset":     {arity: -3, flags: rwGrow, keys: keyPairs, run: cmdMSet},
		"incr":     {arity: 2, flags: rwGrowFast, keys: oneKey, run: incrBy(1)},
		"incrby":   {arity: 3, flags: rwGrowFast, keys: oneKey, run: incrBy(1)},
		"decr":     {arity: 2, flags: rwGrowFast, keys: oneKey, run: incrBy(-1)},
		"decrby":   {arity: 3, flags: rwGrowFast, keys: oneKey, run: incrBy(-1)},
		"del":      {arity: -2, flags: rw, keys: allKeys, run: cmdDel},
		"unlink":   {arity: -2, flags: rwFast, keys: allKeys, run: cmdDel},
		"exists":   {arity: -2, flags: ro, keys: allKeys, run: cmdExists},
		"type":     {arity: 2, flags: ro, keys: oneKey, run: cmdType},
		"keys":     {arity: 2, flags: roSlow, run: cmdKeys},
		"scan":     {arity: -2, flags: roSlow, run: cmdScan},
		"dbsize":   {arity: 1, flags: ro, run: cmdDBSize},
		"flushdb":  {arity: -1, flags: rw, run: cmdFlush},
		"flushall": {arity: -1, flags: rw, run: cmdFlush},
		// Strings: the variants of SET and GET that framework backends use.
		"getset":      {arity: 3, flags: rwGrowFast, keys: oneKey, run: cmdGetSet},
		"getex":       {arity: -2, flags: rwFast, keys: oneKey, run: cmdGetEx},
		"setnx":       {arity: 3, flags: rwGrowFast, keys: oneKey, run: cmdSetNX},
		"setex":       {arity: 4, flags: rwGrow, keys: oneKey, run: setWithTTL(time.Second)},
		"psetex":      {arity: 4, flags: rwGrow, keys: oneKey, run: setWithTTL(time.Millisecond)},
		"incrbyfloat": {arity: 3, flags: rwGrowFast, keys: oneKey, run: cmdIncrByFloat},

		// Expiry.
		"ttl":     {arity: 2, flags: ro, keys: oneKey, run: ttlIn(time.Second)},
		"pttl":    {arity: 2, flags: ro, keys: oneKey, run: ttlIn(time.Millisecond)},
		"persist": {arity: 2, flags: rwFast, keys: oneKey, run: cmdPersist},

		"expiretime":  {arity: 2, flags: ro, keys: oneKey, run: expireTimeCommand(time.Second)},
		"pexpiretime": {arity: 2, flags: ro, keys: oneKey, run: expireTimeCommand(time.Millisecond)},

		// EXPIRE's options NX, XX, GT and LT: see store.ExpireAt.
		"expire":    {arity: -3, flags: rwFast, keys: oneKey, run: expireCommand(time.Second, false)},
		"pexpire":   {arity: -3, flags: rwFast, keys: oneKey, run: expireCommand(time.Millisecond, false)},
		"expireat":  {arity: -3, flags: rwFast, keys: oneKey, run: expireCommand(time.Second, true)},
		"pexpireat": {arity: -3, flags: rwFast, keys: oneKey, run: expireCommand(time.Millisecond, true)},

		// Lists, the queue primitive.
		"lpush":  {arity: -3, flags: rwGrowFast, keys: oneKey, run: push(true)},
		"rpush":  {arity: -3, flags: rwGrowFast, keys: oneKey, run: push(false)},
		"lpop":   {arity: -2, flags: rwFast, keys: oneKey, run: pop(true)},
		"rpop":   {arity: -2, flags: rwFast, keys: oneKey, run: pop(false)},
		"llen":   {arity: 2, flags: ro, keys: oneKey, run: cmdLLen},
		"lrange": {arity: 4, flags: roSlow, keys: oneKey, run: cmdLRange},
		"blpop":  {arity: -3, flags: blockingPop, keys: keysThen, run: bpop(true)},
		"brpop":  {arity: -3, flags: blockingPop, keys: keysThen, run: bpop(false)},
		"lmove":  {arity: 5, flags: rwGrow, keys: twoKeys, run: cmdLMove},
		"blmove": {arity: 6, flags: blocking, keys: twoKeys, run: cmdBLMove},

		// Transactions. EXEC runs the queue atomically: see transaction.
		"multi":   {arity: 1, unqueued: true, flags: txFlags, run: cmdMulti},
		"exec":    {arity: 1, unqueued: true, flags: []string{"noscript", "loading", "stale", "skip_slowlog"}, run: cmdExec},
		"discard": {arity: 1, unqueued: true, flags: txFlags, run: cmdDiscard},
		"watch":   {arity: -2, unqueued: true, flags: txFlags, keys: allKeys, run: cmdWatch},
		"unwatch": {arity: 1, flags: txFlags, run: cmdUnwatch},

		// Connection and server.
		"ping":    {arity: -1, flags: []string{"fast"}, run: cmdPing},
		"echo":    {arity: 2, flags: anyTimeFast, run: cmdEcho},
		"auth":    {arity: -2, noAuth: true, flags: connFlags, run: cmdAuth},
		"hello":   {arity: -1, noAuth: true, flags: connFlags, run: cmdHello},
		"quit":    {arity: 1, noAuth: true, closes: true, unqueued: true, flags: connFlags, run: cmdQuit},
		"reset":   {arity: 1, noAuth: true, unqueued: true, flags: connFlags, run: cmdReset},
		"select":  {arity: 2, flags: anyTimeFast, run: cmdSelect},
		"client":  {arity: -2, run: cmdClient},
		"config":  {arity: -2, run: cmdConfig},
		"command": {arity: -1, flags: anyTime, run: cmdCommand},
		"info":    {arity: -1, flags: anyTime, run: cmdInfo},
		"time":    {arity: 1, flags: anyTimeFast, run: cmdTime},

		// Sorted sets (zsets.go).
		"zadd":             {arity: -4, flags: rwGrowFast, keys: oneKey, run: cmdZAdd},
		"zincrby":          {arity: 4, flags: rwGrowFast, keys: oneKey, run: cmdZIncrBy},
		"zscore":           {arity: 3, flags: ro, keys: oneKey, run: cmdZScore},
		"zmscore":          {arity: -3, flags: ro, keys: oneKey, run: cmdZMScore},
		"zcard":            {arity: 2, flags: ro, keys: oneKey, run: cmdZCard},
		"zcount":           {arity: 4, flags: ro, keys: oneKey, run: zcountCommand(store.ByScore)},
		"zlexcount":        {arity: 4, flags: ro, keys: oneKey, run: zcountCommand(store.ByLex)},
		"zrange":           {arity: -4, flags: roSlow, keys: oneKey, run: zrangeCommand(byArgs, byArgs, false)},
		"zrangestore":      {arity: -5, flags: rwGrow, keys: twoKeys, run: zrangeCommand(byArgs, byArgs, true)},
		"zrangebyscore":    {arity: -4, flags: roSlow, keys: oneKey, run: zrangeCommand(store.ByScore, forward, false)},
		"zrevrangebyscore": {arity: -4, flags: roSlow, keys: oneKey, run: zrangeCommand(store.ByScore, reverse, false)},
		"zrangebylex":      {arity: -4, flags: roSlow, keys: oneKey, run: zrangeCommand(store.ByLex, forward, false)},
		"zrevrangebylex":   {arity: -4, flags: roSlow, keys: oneKey, run: zrangeCommand(store.ByLex, reverse, false)},
		"zrevrange":        {arity: -4, flags: roSlow, keys: oneKey, run: zrangeCommand(store.ByRank, reverse, false)},
		"zrank":            {arity: -3, flags: ro, keys: oneKey, run: cmdZRank},
		"zrevrank":         {arity: -3, flags: ro, keys: oneKey, run: cmdZRank},
		"zrem":             {arity: -3, flags: rwFast, keys: oneKey, run: cmdZRem},
		"zremrangebyscore": {arity: 4, flags: rw, keys: oneKey, run: zremRangeCommand(store.ByScore)},
		"zremrangebyrank":  {arity: 4, flags: rw, keys: oneKey, run: zremRangeCommand(store.ByRank)},
		"zremrangebylex":   {arity: 4, flags: rw, keys: oneKey, run: zremRangeCommand(store.ByLex)},
		"zpopmin":          {arity: -2, flags: rwFast, keys: oneKey, run: cmdZPop},
		"zpopmax":          {arity: -2, flags: rwFast, keys: oneKey, run: cmdZPop},
		"bzpopmin":         {arity: -3, flags: blockingPopFast, keys: keysThen, run: cmdBZPop},
		"bzpopmax":         {arity: -3, flags: blockingPopFast, keys: keysThen, run: cmdBZPop},
		"zrandmember":      {arity: -2, flags: roSlow, keys: oneKey, run: cmdZRandMember},
		"zscan":            {arity: -3, flags: roSlow, keys: oneKey, run: cmdZScan},

		// Sorted sets' set operations (zsetops.go): their keys follow a count.
		"zunion":      {arity: -3, flags: roSlow, moreKeys: countedKeys(1), run: zsetOpCommand(store.ZUnion, false, false)},
		"zinter":      {arity: -3, flags: roSlow, moreKeys: countedKeys(1), run: zsetOpCommand(store.ZInter, false, false)},
		"zdiff":       {arity: -3, flags: roSlow, moreKeys: countedKeys(1), run: zsetOpCommand(store.ZDiff, false, false)},
		"zintercard":  {arity: -3, flags: roSlow, moreKeys: countedKeys(1), run: zsetOpCommand(store.ZInter, false, true)},
		"zunionstore": {arity: -4, flags: rwGrow, keys: oneKey, moreKeys: countedKeys(2), run: zsetOpCommand(store.ZUnion, true, false)},
		"zinterstore": {arity: -4, flags: rwGrow, keys: oneKey, moreKeys: countedKeys(2), run: zsetOpCommand(store.ZInter, true, false)},
		"zdiffstore":  {arity: -4, flags: rwGrow, keys: oneKey, moreKeys: countedKeys(2), run: zsetOpCommand(store.ZDiff, true, false)},

		// Streams (streams.go), as far as job queues use them.
		"xadd":      {arity: -5, flags: rwGrowFast, keys: oneKey, run: cmdXAdd},
		"xrange":    {arity: -4, flags: roSlow, keys: oneKey, run: cmdXRange},
		"xrevrange": {arity: -4, flags: roSlow, keys: oneKey, run: cmdXRange},
		"xlen":      {arity: 2, flags: ro, keys: oneKey, run: cmdXLen},
		"xdel":      {arity: -3, flags: rwFast, keys: oneKey, run: cmdXDel},
		"xtrim":     {arity: -4, flags: rw, keys: oneKey, run: cmdXTrim},
		"xread":     {arity: -4, flags: []string{"readonly", "blocking"}, moreKeys: streamsKeys, run: cmdXRead},
		// Pub/sub (pubsub.go).
		"subscribe":    {arity: -2, flags: subFlags, run: cmdSubscribe},
		"psubscribe":   {arity: -2, flags: subFlags, run: cmdSubscribe},
		"unsubscribe":  {arity: -1, flags: subFlags, run: cmdUnsubscribe},
		"punsubscribe": {arity: -1, flags: subFlags, run: cmdUnsubscribe},
		"publish":      {arity: 3, flags: []string{"pubsub", "loading", "stale", "fast"}, run: cmdPublish},
		"pubsub":       {arity: -2, run: cmdPubsub},

		// Hashes (hashes.go). Flags and keys as Redis 7.0's COMMAND INFO.
		"hset":         {arity: -4, flags: rwGrowFast, keys: oneKey, run: cmdHSet},
		"hmset":        {arity: -4, flags: rwGrowFast, keys: oneKey, run: cmdHSet},
		"hsetnx":       {arity: 4, flags: rwGrowFast, keys: oneKey, run: cmdHSetNX},
		"hget":         {arity: 3, flags: ro, keys: oneKey, run: cmdHGet},
		"hmget":        {arity: -3, flags: ro, keys: oneKey, run: cmdHMGet},
		"hgetall":      {arity: 2, flags: roSlow, keys: oneKey, run: cmdHGetAll},
		"hkeys":        {arity: 2, flags: roSlow, keys: oneKey, run: cmdHGetAll},
		"hvals":        {arity: 2, flags: roSlow, keys: oneKey, run: cmdHGetAll},
		"hdel":         {arity: -3, flags: rwFast, keys: oneKey, run: cmdHDel},
		"hexists":      {arity: 3, flags: ro, keys: oneKey, run: cmdHExists},
		"hstrlen":      {arity: 3, flags: ro, keys: oneKey, run: cmdHExists},
		"hlen":         {arity: 2, flags: ro, keys: oneKey, run: cmdHLen},
		"hincrby":      {arity: 4, flags: rwGrowFast, keys: oneKey, run: cmdHIncrBy},
		"hincrbyfloat": {arity: 4, flags: rwGrowFast, keys: oneKey, run: cmdHIncrByFloat},
		"hrandfield":   {arity: -2, flags: roSlow, keys: oneKey, run: cmdHRandField},
		"hscan":        {arity: -3, flags: roSlow, keys: oneKey, run: cmdHScan},

		// Sets (sets.go).
		"sadd":        {arity: -3, flags: rwGrowFast, keys: oneKey, run: cmdSAdd},
		"srem":        {arity: -3, flags: rwFast, keys: oneKey, run: cmdSAdd},
		"smembers":    {arity: 2, flags: roSlow, keys: oneKey, run: cmdSMembers},
		"sismember":   {arity: 3, flags: ro, keys: oneKey, run: cmdSIsMember},
		"smismember":  {arity: -3, flags: ro, keys: oneKey, run: cmdSIsMember},
		"scard":       {arity: 2, flags: ro, keys: oneKey, run: cmdSCard},
		"spop":        {arity: -2, flags: rwFast, keys: oneKey, run: cmdSPop},
		"srandmember": {arity: -2, flags: roSlow, keys: oneKey, run: cmdSRandMember},
		"smove":       {arity: 4, flags: rwFast, keys: twoKeys, run: cmdSMove},
		"sinter":      {arity: -2, flags: roSlow, keys: allKeys, run: cmdSCombine},
		"sunion":      {arity: -2, flags: roSlow, keys: allKeys, run: cmdSCombine},
		"sdiff":       {arity: -2, flags: roSlow, keys: allKeys, run: cmdSCombine},
		"sinterstore": {arity: -3, flags: rwGrow, keys: allKeys, run: cmdSCombineStore},
		"sunionstore": {arity: -3, flags: rwGrow, keys: allKeys, run: cmdSCombineStore},
		"sdiffstore":  {arity: -3, flags: rwGrow, keys: allKeys, run: cmdSCombineStore},
		// SINTERCARD numkeys key ...: keys after a count (see moreKeys).
		"sintercard": {arity: -3, flags: roSlow, moreKeys: countedKeys(1), run: cmdSInterCard},
		"sscan":      {arity: -3, flags: roSlow, keys: oneKey, run: cmdSScan},

		// Scripting: see scripting.go. Keys are given by numkeys.
		"eval":       {arity: -3, flags: evalFlags, run: cmdEval},
		"evalsha":    {arity: -3, flags: evalFlags, run: cmdEvalSHA},
		"eval_ro":    {arity: -3, flags: append([]string{"readonly"}, evalFlags...), run: cmdEval},
		"evalsha_ro": {arity: -3, flags: append([]string{"readonly"}, evalFlags...), run: cmdEvalSHA},
		"script":     {arity: -2, run: cmdScript},

		// More strings, keys and lists (morecmds.go).
		"append":     {arity: 3, flags: rwGrowFast, keys: oneKey, run: cmdAppend},
		"getrange":   {arity: 4, flags: roSlow, keys: oneKey, run: cmdGetRange},
		"substr":     {arity: 4, flags: roSlow, keys: oneKey, run: cmdGetRange},
		"setrange":   {arity: 4, flags: rwGrow, keys: oneKey, run: cmdSetRange},
		"strlen":     {arity: 2, flags: ro, keys: oneKey, run: cmdStrLen},
		"msetnx":     {arity: -3, flags: rwGrow, keys: keyPairs, run: cmdMSetNX},
		"rename":     {arity: 3, flags: rw, keys: twoKeys, run: rename(false)},
		"renamenx":   {arity: 3, flags: rwFast, keys: twoKeys, run: rename(true)},
		"copy":       {arity: -3, flags: rwGrow, keys: twoKeys, run: cmdCopy},
		"randomkey":  {arity: 1, flags: roSlow, run: cmdRandomKey},
		"lindex":     {arity: 3, flags: roSlow, keys: oneKey, run: cmdLIndex},
		"linsert":    {arity: 5, flags: rwGrow, keys: oneKey, run: cmdLInsert},
		"lset":       {arity: 4, flags: rwGrow, keys: oneKey, run: cmdLSet},
		"ltrim":      {arity: 4, flags: rw, keys: oneKey, run: cmdLTrim},
		"lrem":       {arity: 4, flags: rw, keys: oneKey, run: cmdLRem},
		"lpos":       {arity: -3, flags: roSlow, keys: oneKey, run: cmdLPos},
		"lpushx":     {arity: -3, flags: rwGrowFast, keys: oneKey, run: pushX(true)},
		"rpushx":     {arity: -3, flags: rwGrowFast, keys: oneKey, run: pushX(false)},
		"rpoplpush":  {arity: 3, flags: rwGrow, keys: twoKeys, run: cmdRPopLPush},
		"brpoplpush": {arity: 4, flags: blocking, keys: twoKeys, run: cmdBRPopLPush},
		"lmpop":      {arity: -4, flags: []string{"write", "movablekeys"}, run: cmdLMPop},
		"blmpop":     {arity: -5, flags: []string{"write", "blocking", "movablekeys"}, run: cmdBLMPop},

		// Values in shared memory, on a unix socket (shared.go).
		"tmc.setfd":     {arity: -3, flags: rwGrow, keys: oneKey, run: cmdSetFD},
		"tmc.stage":     {arity: 2, flags: stateFlags, run: cmdStage},
		"tmc.setstaged": {arity: -3, flags: rwGrow, keys: oneKey, run: cmdSetStaged},
		"tmc.release":   {arity: -2, flags: stateFlags, run: cmdRelease},
		"tmc.getfd":     {arity: 2, flags: ro, keys: oneKey, run: cmdGetFD},
		"tmc.getdelfd":  {arity: 2, flags: rw, keys: oneKey, run: cmdGetFD},
		"tmc.get":       {arity: 2, flags: ro, keys: oneKey, run: cmdGetOrSize},
		"tmc.getdel":    {arity: 2, flags: rw, keys: oneKey, run: cmdGetOrSize},

		// Sorted sets' ZMPOP and BZMPOP (zmpop.go): keys after numkeys.
		"zmpop":  {arity: -4, flags: rw, moreKeys: countedKeys(1), run: cmdZMPop},
		"bzmpop": {arity: -5, flags: []string{"write", "blocking"}, moreKeys: countedKeys(2), run: cmdBZMPop},

		// LCS (lcs.go).
		"lcs": {arity: -3, flags: roSlow, keys: twoKeys, run: cmdLCS},
		// Sharded pub/sub (shardpubsub.go). The keys are the shard channels,
		// as in Redis 7.0's COMMAND INFO.
		"ssubscribe":   {arity: -2, flags: subFlags, keys: allKeys, run: cmdSubscribe},
		"sunsubscribe": {arity: -1, flags: subFlags, keys: allKeys, run: cmdUnsubscribe},
		"spublish":     {arity: 3, flags: []string{"pubsub", "loading", "stale", "fast"}, keys: oneKey, run: cmdSPublish},
	}
	for name := range commands {
		commandNames = append(commandNames, name)
	}
	slices.Sort(commandNames)
	for id, name := range commandNames {
		commands[name].id = id
	}
}

// maxNameLen is the longest command name looked up; longer ones are unknown.
const maxNameLen = 32

// exec runs one command, or queues it in a transaction, and appends its
// reply to out. It reports whether the client asked to close the
// connection. Refused commands and error replies are counted for INFO
// commandstats and errorstats.
func (s *Server) exec(c *conn, args [][]byte, out []byte) ([]byte, bool) {
	if out, busy := s.whileBusy(c, args, out); busy { // the lock was lent: see scripting.go
		return out, false
	}
	start := len(out)
	name := args[0]
	var lower [maxNameLen]byte
	var cmd *command
	if len(name) <= maxNameLen {
		for i, ch := range name {
			if 'A' <= ch && ch <= 'Z' {
				ch += 'a' - 'A'
			}
			lower[i] = ch
		}
		cmd = commands[string(lower[:len(name)])]
	}
	if cmd != nil { // CLIENT LIST's cmd: EXEC for a transaction's commands, as in Redis
		c.lastCmd, c.lastSub = cmd, ""
	}
	switch {
	case cmd == nil:
		out = c.refused(resp.AppendError(out, "ERR unknown command '"+printable(name)+"'"))
		s.stats.countError(out[start:])
		return out, false
	case !c.authed && !cmd.noAuth:
		out = c.refused(resp.AppendError(out, "NOAUTH Authentication required."))
	case cmd.arity > 0 && len(args) != cmd.arity, cmd.arity < 0 && len(args) < -cmd.arity:
		out = c.refused(appendArityError(out, lower[:len(name)]))
	case c.refusedInSubscriberMode(lower[:len(name)]):
		out = c.refused(resp.AppendError(out, errSubscriberMode(fullName(lower[:len(name)], args))))
	case c.tx != nil && !cmd.unqueued:
		out = c.enqueue(cmd, args, out)
		if out[start] == '-' {
			s.stats.countError(out[start:])
		}
		return out, false
	default:
		out = s.call(c, cmd, args, out)
		// Pops blocked on lists the command pushed to are served now,
		// once it is done: after a whole EXEC, not in its middle.
		s.store.ServeReady()
		return s.deliver(c.loop, c, out), cmd.closes // invalidations follow the reply
	}
	s.stats.commands[cmd.id].rejected++
	s.stats.countError(out[start:])
	return out, false
}

// call runs cmd and counts its call, its time and an error reply, without
// allocating: two clock reads, as in Redis.
func (s *Server) call(c *conn, cmd *command, args [][]byte, out []byte) []byte {
	start := len(out)
	began := time.Now()
	if c.tracking && cmd.tracks() {
		s.tracking.remember(c.id, cmd.keysOf(args))
	}
	c.lastAt = began
	out = cmd.run(c, args, out)
	st := &s.stats.commands[cmd.id]
	st.calls++
	st.nanos += int64(time.Since(began))
	if len(out) > start && out[start] == '-' {
		st.failed++
		s.stats.countError(out[start:])
	}
	return out
}

func appendArityError(out, name []byte) []byte {
	return resp.AppendError(out, "ERR wrong number of arguments for '"+string(name)+"' command")
}

// printable quotes at most 64 bytes of a client-supplied name for an error.
func printable(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	s := strconv.QuoteToASCII(string(b))
	return s[1 : len(s)-1]
}

// is reports whether a client-supplied word equals an upper-case keyword,
// ignoring case.
func is(arg []byte, keyword string) bool {
	return len(arg) == len(keyword) && strings.EqualFold(string(arg), keyword)
}

const (
	errSyntax   = "ERR syntax error"
	errNotInt   = "ERR value is not an integer or out of range"
	errTimeout  = "ERR timeout is not a float or out of range"
	errNegative = "ERR timeout is negative"

	errTimeoutRange = "ERR timeout is out of range"
)

func appendErr(out []byte, err error) []byte { return resp.AppendError(out, err.Error()) }

// appendValue appends a bulk string, or null if missing.
func (c *conn) appendValue(out, v []byte, ok bool) []byte {
	if !ok {
		return c.appendNull(out)
	}
	return c.appendBulk(out, v)
}
