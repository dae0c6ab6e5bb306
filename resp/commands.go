package resp

import (
	"strings"
)

// command is one Redis command this front serves.
type command struct {
	name     string
	arity    int      // Redis's convention: n exactly, -n at least n (the name included)
	flags    []string // as COMMAND reports them
	first    int      // position of the first key (0: none)
	last     int      // of the last key (-1: the last argument)
	step     int      // between keys
	noAuth   bool     // allowed before AUTH
	inPubsub bool     // allowed in RESP2 subscribed mode
	group    string
	since    string
	summary  string
	acl      []string
	parallel bool // a single-key write that may run beside others of a pipeline
	run      func(c *call, args [][]byte)
}

// commands is the table of every command served, by lower-case name.
var commands = map[string]*command{}

func init() {
	for _, c := range []*command{
		{name: "ping", arity: -1, flags: []string{"fast"}, inPubsub: true, group: "connection", since: "1.0.0", summary: "Returns the server's liveliness response.", acl: []string{"@fast", "@connection"}, run: cmdPing},
		{name: "echo", arity: 2, flags: []string{"fast"}, group: "connection", since: "1.0.0", summary: "Returns the given string.", acl: []string{"@fast", "@connection"}, run: cmdEcho},
		{name: "quit", arity: -1, flags: []string{"noauth", "fast"}, noAuth: true, inPubsub: true, group: "connection", since: "1.0.0", summary: "Closes the connection.", acl: []string{"@fast", "@connection"}, run: cmdQuit},
		{name: "select", arity: 2, flags: []string{"loading", "stale", "fast"}, group: "connection", since: "1.0.0", summary: "Changes the selected database (jumpkv has only 0).", acl: []string{"@keyspace", "@fast"}, run: cmdSelect},
		{name: "auth", arity: -2, flags: []string{"noscript", "loading", "stale", "fast", "no_auth"}, noAuth: true, group: "connection", since: "1.0.0", summary: "Authenticates the connection.", acl: []string{"@fast", "@connection"}, run: cmdAuth},
		{name: "hello", arity: -1, flags: []string{"noscript", "loading", "stale", "fast", "no_auth"}, noAuth: true, group: "connection", since: "6.0.0", summary: "Handshakes with the server (HELLO 3 switches to RESP3).", acl: []string{"@fast", "@connection"}, run: cmdHello},
		{name: "client", arity: -2, flags: []string{"noscript", "loading", "stale"}, group: "connection", since: "2.4.0", summary: "CLIENT SETNAME, GETNAME, ID, INFO, SETINFO.", acl: []string{"@slow", "@connection"}, run: cmdClient},
		{name: "command", arity: -1, flags: []string{"loading", "stale"}, group: "server", since: "2.8.13", summary: "Returns detailed information about all commands (COUNT, INFO, DOCS, LIST).", acl: []string{"@slow", "@connection"}, run: cmdCommand},
		{name: "info", arity: -1, flags: []string{"loading", "stale"}, group: "server", since: "1.0.0", summary: "Returns information and statistics about the server.", acl: []string{"@slow", "@dangerous"}, run: cmdInfo},
		{name: "config", arity: -2, flags: []string{"admin", "noscript", "loading", "stale"}, group: "server", since: "2.0.0", summary: "CONFIG GET of a few settings (save, appendonly, ...).", acl: []string{"@admin", "@slow", "@dangerous"}, run: cmdConfig},
		{name: "dbsize", arity: 1, flags: []string{"readonly", "fast"}, group: "server", since: "1.0.0", summary: "Returns the number of keys in the cluster.", acl: []string{"@keyspace", "@read", "@fast"}, run: cmdDBSize},

		{name: "get", arity: 2, flags: []string{"readonly", "fast"}, first: 1, last: 1, step: 1, group: "string", since: "1.0.0", summary: "Returns the string value of a key.", acl: []string{"@read", "@string", "@fast"}, run: cmdGet},
		{name: "set", arity: -3, flags: []string{"write", "denyoom"}, first: 1, last: 1, step: 1, group: "string", since: "1.0.0", summary: "Sets the string value of a key (NX|XX, GET, EX|PX|EXAT|PXAT|KEEPTTL).", acl: []string{"@write", "@string", "@slow"}, run: cmdSet},
		{name: "setnx", arity: 3, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, group: "string", since: "1.0.0", summary: "Sets the value of a key only when the key doesn't exist.", acl: []string{"@write", "@string", "@fast"}, run: cmdSetNX},
		{name: "getdel", arity: 2, flags: []string{"write", "fast"}, first: 1, last: 1, step: 1, group: "string", since: "6.2.0", summary: "Returns the string value of a key after deleting the key.", acl: []string{"@write", "@string", "@fast"}, run: cmdGetDel},
		{name: "mget", arity: -2, flags: []string{"readonly", "fast"}, first: 1, last: -1, step: 1, group: "string", since: "1.0.0", summary: "Atomically returns the string values of one or more keys (not atomic across keys in jumpkv).", acl: []string{"@read", "@string", "@fast"}, run: cmdMGet},
		{name: "mset", arity: -3, flags: []string{"write", "denyoom"}, first: 1, last: -1, step: 2, group: "string", since: "1.0.1", summary: "Sets the string values of one or more keys (not atomic across keys in jumpkv).", acl: []string{"@write", "@string", "@slow"}, run: cmdMSet},
		{name: "append", arity: 3, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, group: "string", since: "2.0.0", summary: "Appends a string to the value of a key. Creates the key if it doesn't exist.", acl: []string{"@write", "@string", "@fast"}, run: cmdAppend},
		{name: "strlen", arity: 2, flags: []string{"readonly", "fast"}, first: 1, last: 1, step: 1, group: "string", since: "2.2.0", summary: "Returns the length of a string value.", acl: []string{"@read", "@string", "@fast"}, run: cmdStrlen},
		{name: "incr", arity: 2, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, group: "string", since: "1.0.0", summary: "Increments the integer value of a key by one.", acl: []string{"@write", "@string", "@fast"}, run: cmdIncr},
		{name: "incrby", arity: 3, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, group: "string", since: "1.0.0", summary: "Increments the integer value of a key by a number.", acl: []string{"@write", "@string", "@fast"}, run: cmdIncrBy},
		{name: "decr", arity: 2, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, group: "string", since: "1.0.0", summary: "Decrements the integer value of a key by one.", acl: []string{"@write", "@string", "@fast"}, run: cmdDecr},
		{name: "decrby", arity: 3, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, group: "string", since: "1.0.0", summary: "Decrements a number from the integer value of a key.", acl: []string{"@write", "@string", "@fast"}, run: cmdDecrBy},

		{name: "del", arity: -2, flags: []string{"write"}, first: 1, last: -1, step: 1, group: "generic", since: "1.0.0", summary: "Deletes one or more keys.", acl: []string{"@keyspace", "@write", "@slow"}, run: cmdDel},
		{name: "unlink", arity: -2, flags: []string{"write", "fast"}, first: 1, last: -1, step: 1, group: "generic", since: "4.0.0", summary: "Deletes one or more keys (as DEL).", acl: []string{"@keyspace", "@write", "@fast"}, run: cmdDel},
		{name: "exists", arity: -2, flags: []string{"readonly", "fast"}, first: 1, last: -1, step: 1, group: "generic", since: "1.0.0", summary: "Determines whether one or more keys exist.", acl: []string{"@keyspace", "@read", "@fast"}, run: cmdExists},
		{name: "type", arity: 2, flags: []string{"readonly", "fast"}, first: 1, last: 1, step: 1, group: "generic", since: "1.0.0", summary: "Determines the type of value stored at a key (always string).", acl: []string{"@keyspace", "@read", "@fast"}, run: cmdType},
		{name: "keys", arity: 2, flags: []string{"readonly"}, group: "generic", since: "1.0.0", summary: "Returns all key names that match a pattern (bounded in jumpkv: use SCAN).", acl: []string{"@keyspace", "@read", "@slow", "@dangerous"}, run: cmdKeys},
		{name: "scan", arity: -2, flags: []string{"readonly"}, group: "generic", since: "2.8.0", summary: "Iterates over the key names (MATCH, COUNT, TYPE).", acl: []string{"@keyspace", "@read", "@slow"}, run: cmdScan},
		{name: "ttl", arity: 2, flags: []string{"readonly", "fast"}, first: 1, last: 1, step: 1, group: "generic", since: "1.0.0", summary: "Returns the expiration time in seconds of a key.", acl: []string{"@keyspace", "@read", "@fast"}, run: cmdTTL},
		{name: "pttl", arity: 2, flags: []string{"readonly", "fast"}, first: 1, last: 1, step: 1, group: "generic", since: "2.6.0", summary: "Returns the expiration time in milliseconds of a key.", acl: []string{"@keyspace", "@read", "@fast"}, run: cmdTTL},
		{name: "expire", arity: -3, flags: []string{"write", "fast"}, first: 1, last: 1, step: 1, group: "generic", since: "1.0.0", summary: "Sets the expiration time of a key in seconds.", acl: []string{"@keyspace", "@write", "@fast"}, run: cmdExpire},
		{name: "pexpire", arity: -3, flags: []string{"write", "fast"}, first: 1, last: 1, step: 1, group: "generic", since: "2.6.0", summary: "Sets the expiration time of a key in milliseconds.", acl: []string{"@keyspace", "@write", "@fast"}, run: cmdExpire},
		{name: "persist", arity: 2, flags: []string{"write", "fast"}, first: 1, last: 1, step: 1, group: "generic", since: "2.2.0", summary: "Removes the expiration time of a key.", acl: []string{"@keyspace", "@write", "@fast"}, run: cmdPersist},

		{name: "subscribe", arity: -2, flags: []string{"pubsub", "noscript", "loading", "stale"}, inPubsub: true, group: "pubsub", since: "2.0.0", summary: "Listens for keyspace notifications (__keyspace@0__:<key>, __keyevent@0__:<event>).", acl: []string{"@pubsub", "@slow"}, run: cmdSubscribe},
		{name: "psubscribe", arity: -2, flags: []string{"pubsub", "noscript", "loading", "stale"}, inPubsub: true, group: "pubsub", since: "2.0.0", summary: "Listens for keyspace notifications on channels that match patterns.", acl: []string{"@pubsub", "@slow"}, run: cmdSubscribe},
		{name: "unsubscribe", arity: -1, flags: []string{"pubsub", "noscript", "loading", "stale"}, inPubsub: true, group: "pubsub", since: "2.0.0", summary: "Stops listening to channels.", acl: []string{"@pubsub", "@slow"}, run: cmdUnsubscribe},
		{name: "punsubscribe", arity: -1, flags: []string{"pubsub", "noscript", "loading", "stale"}, inPubsub: true, group: "pubsub", since: "2.0.0", summary: "Stops listening to channel patterns.", acl: []string{"@pubsub", "@slow"}, run: cmdUnsubscribe},
	} {
		commands[c.name] = c
	}
	// Writes gain from running together (they share the leader's round
	// trips to the replicas); reads, mostly local, would only pay for the
	// goroutines.
	for _, n := range []string{"set", "setnx", "getdel", "append", "incr", "incrby", "decr", "decrby",
		"expire", "pexpire", "persist"} {
		commands[n].parallel = true
	}
}

// lookup finds a command by name, in any case, without allocating.
func lookup(name []byte) *command {
	if len(name) > 32 {
		return nil
	}
	var buf [32]byte
	for i, b := range name {
		if b >= 'A' && b <= 'Z' {
			b += 'a' - 'A'
		}
		buf[i] = b
	}
	return commands[string(buf[:len(name)])]
}

// sortedCommands returns the table in name order.
func sortedCommands() []*command {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sortStrings(names)
	out := make([]*command, len(names))
	for i, n := range names {
		out[i] = commands[n]
	}
	return out
}

// cmdCommand answers COMMAND, COMMAND COUNT/LIST/INFO/DOCS: enough for
// redis-cli's interactive help and for clients that read key positions.
func cmdCommand(c *call, args [][]byte) {
	if len(args) == 1 {
		cs := sortedCommands()
		c.r.array(len(cs))
		for _, cmd := range cs {
			c.commandInfo(cmd)
		}
		return
	}
	switch sub := strings.ToUpper(string(args[1])); sub {
	case "COUNT":
		c.r.int(int64(len(commands)))
	case "LIST":
		cs := sortedCommands()
		c.r.array(len(cs))
		for _, cmd := range cs {
			c.r.bulkString(cmd.name)
		}
	case "INFO":
		cs := sortedCommands()
		if len(args) > 2 {
			cs = cs[:0]
			for _, a := range args[2:] {
				cs = append(cs, lookup(a))
			}
		}
		c.r.array(len(cs))
		for _, cmd := range cs {
			if cmd == nil {
				c.r.nullArray()
				continue
			}
			c.commandInfo(cmd)
		}
	case "DOCS":
		cs := sortedCommands()
		if len(args) > 2 {
			cs = cs[:0]
			for _, a := range args[2:] {
				if cmd := lookup(a); cmd != nil {
					cs = append(cs, cmd)
				}
			}
		}
		c.r.mapHeader(len(cs))
		for _, cmd := range cs {
			c.r.bulkString(cmd.name)
			c.r.mapHeader(3)
			c.r.bulkString("summary")
			c.r.bulkString(cmd.summary)
			c.r.bulkString("since")
			c.r.bulkString(cmd.since)
			c.r.bulkString("group")
			c.r.bulkString(cmd.group)
		}
	case "GETKEYS":
		if len(args) < 3 {
			c.r.err(errWrongArity("command|getkeys"))
			return
		}
		cmd := lookup(args[2])
		if cmd == nil {
			c.r.err("ERR Invalid command specified")
			return
		}
		var keys []string
		if cmd.first > 0 {
			cargs := args[2:]
			last := cmd.last
			if last < 0 {
				last = len(cargs) + last
			}
			for i := cmd.first; i <= last && i < len(cargs); i += cmd.step {
				keys = append(keys, string(cargs[i]))
			}
		}
		if len(keys) == 0 {
			c.r.err("ERR The command has no key arguments")
			return
		}
		c.r.strings(keys)
	case "HELP":
		c.r.strings([]string{"COMMAND [<subcommand>]. Subcommands are: COUNT, LIST, INFO [<name> ...], DOCS [<name> ...], GETKEYS <command> [<arg> ...]"})
	default:
		c.r.err(errUnknownSubcommand(string(args[1]), "COMMAND"))
	}
}

// commandInfo writes one command's COMMAND entry (Redis 7's ten fields).
func (c *call) commandInfo(cmd *command) {
	c.r.array(10)
	c.r.bulkString(cmd.name)
	c.r.int(int64(cmd.arity))
	c.r.setHeader(len(cmd.flags))
	for _, f := range cmd.flags {
		c.r.simple(f)
	}
	c.r.int(int64(cmd.first))
	c.r.int(int64(cmd.last))
	c.r.int(int64(cmd.step))
	c.r.setHeader(len(cmd.acl))
	for _, a := range cmd.acl {
		c.r.simple(a)
	}
	c.r.array(0) // tips
	c.r.array(0) // key specifications
	c.r.array(0) // subcommands
}
