package resp

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// redisVersion is the Redis version whose commands and replies this front
// follows (clients look at it to pick features).
const redisVersion = "7.2.0"

func cmdPing(c *call, args [][]byte) {
	if len(args) > 2 {
		c.r.err(errWrongArity("ping"))
		return
	}
	if c.ps != nil && c.ps.count() > 0 && !c.r.resp3 {
		// In RESP2 subscribed mode PING answers as a message.
		c.r.array(2)
		c.r.bulkString("pong")
		if len(args) == 2 {
			c.r.bulk(args[1])
		} else {
			c.r.bulkString("")
		}
		return
	}
	if len(args) == 2 {
		c.r.bulk(args[1])
		return
	}
	c.r.simple("PONG")
}

func cmdEcho(c *call, args [][]byte) { c.r.bulk(args[1]) }

func cmdQuit(c *call, args [][]byte) {
	c.r.ok()
	c.quit = true
}

func cmdSelect(c *call, args [][]byte) {
	n, ok := parseInt(args[1])
	switch {
	case !ok:
		c.r.err("ERR " + ErrNotInteger.Error())
	case n != 0:
		c.r.err("ERR DB index is out of range (jumpkv has one database: 0)")
	default:
		c.r.ok()
	}
}

// authenticate checks name and password, answering WRONGPASS on failure.
func (c *call) authenticate(name, password string) bool {
	if c.s.cfg.Auth == nil {
		c.authed = true
		return true
	}
	p, err := c.s.cfg.Auth.Authenticate(c.nc.RemoteAddr().String(), name, password)
	var later *RetryLater
	switch {
	case errors.As(err, &later):
		c.r.err("ERR " + later.Error())
		return false
	case err != nil || p == nil:
		c.r.err("WRONGPASS invalid username-password pair or user is disabled.")
		return false
	}
	c.user, c.principal, c.authed = name, p, true
	return true
}

func cmdAuth(c *call, args [][]byte) {
	if len(args) > 3 {
		c.r.err("ERR " + ErrSyntax.Error())
		return
	}
	if c.s.cfg.Auth == nil && len(args) == 2 {
		c.r.err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
		return
	}
	name, password := "default", string(args[1])
	if len(args) == 3 {
		name, password = string(args[1]), string(args[2])
	}
	if c.authenticate(name, password) {
		c.r.ok()
	}
}

// cmdHello answers HELLO [protover [AUTH user pass] [SETNAME name]]: it
// switches to RESP3 on 3 and answers the server's description as a map.
func cmdHello(c *call, args [][]byte) {
	proto := int64(0)
	if len(args) > 1 {
		var ok bool
		proto, ok = parseInt(args[1])
		if !ok {
			c.r.err("ERR Protocol version is not an integer or out of range")
			return
		}
		if proto != 2 && proto != 3 {
			c.r.err("NOPROTO unsupported protocol version")
			return
		}
	}
	var user, pass, name string
	auth, setName := false, false
	for i := 2; i < len(args); i++ {
		switch opt := strings.ToUpper(string(args[i])); {
		case opt == "AUTH" && i+2 < len(args):
			user, pass, auth = string(args[i+1]), string(args[i+2]), true
			i += 2
		case opt == "SETNAME" && i+1 < len(args):
			name, setName = string(args[i+1]), true
			i++
		default:
			c.r.err("ERR Syntax error in HELLO option '" + truncate(string(args[i]), 64) + "'")
			return
		}
	}
	if auth && !c.authenticate(user, pass) {
		return
	}
	if !c.authed {
		c.r.err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if setName {
		if msg := checkClientName(name); msg != "" {
			c.r.err(msg)
			return
		}
		c.name = name
	}
	if proto != 0 {
		c.resp3.Store(proto == 3)
		c.r.resp3 = proto == 3
	}
	p := int64(2)
	if c.r.resp3 {
		p = 3
	}
	c.r.mapHeader(8)
	c.r.bulkString("server")
	c.r.bulkString("redis")
	c.r.bulkString("version")
	c.r.bulkString(redisVersion)
	c.r.bulkString("proto")
	c.r.int(p)
	c.r.bulkString("id")
	c.r.int(c.id)
	c.r.bulkString("mode")
	c.r.bulkString("standalone")
	c.r.bulkString("role")
	c.r.bulkString("master")
	c.r.bulkString("modules")
	c.r.array(0)
	c.r.bulkString("jumpkv")
	c.r.bulkString(c.s.cfg.Version)
}

// checkClientName returns Redis's error for a name with spaces or newlines.
func checkClientName(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] < '!' || name[i] > '~' {
			return "ERR Client names cannot contain spaces, newlines or special characters."
		}
	}
	return ""
}

// clientArity is the arity of each CLIENT subcommand served (Redis's
// convention).
var clientArity = map[string]int{"SETNAME": 3, "GETNAME": 2, "ID": 2, "INFO": 2, "LIST": -2, "SETINFO": 4, "HELP": 2}

func cmdClient(c *call, args [][]byte) {
	sub := strings.ToUpper(string(args[1]))
	n, known := clientArity[sub]
	switch {
	case !known:
		c.r.err(errUnknownSubcommand(string(args[1]), "CLIENT"))
		return
	case n > 0 && len(args) != n, n < 0 && len(args) < -n:
		c.r.err(errWrongArity("client|" + strings.ToLower(sub)))
		return
	}
	switch sub {
	case "SETNAME":
		name := string(args[2])
		if msg := checkClientName(name); msg != "" {
			c.r.err(msg)
			return
		}
		c.name = name
		c.r.ok()
	case "GETNAME":
		c.r.bulkOrNull([]byte(c.name), c.name != "")
	case "ID":
		c.r.int(c.id)
	case "INFO", "LIST":
		c.r.bulkString(c.clientLine() + "\n")
	case "SETINFO":
		attr, v := strings.ToUpper(string(args[2])), string(args[3])
		if msg := checkClientName(v); msg != "" && v != "" {
			c.r.err("ERR " + strings.ToLower(attr) + " cannot contain spaces, newlines or special characters.")
			return
		}
		switch attr {
		case "LIB-NAME":
			c.libName = v
		case "LIB-VER":
			c.libVer = v
		default:
			c.r.err("ERR Unrecognized option '" + truncate(string(args[2]), 64) + "'")
			return
		}
		c.r.ok()
	case "HELP":
		c.r.strings([]string{
			"CLIENT <subcommand> [<arg> ...]. Subcommands are:",
			"ID", "    Return the ID of the current connection.",
			"GETNAME", "    Return the name of the current connection.",
			"SETNAME <name>", "    Assign the name <name> to the current connection.",
			"SETINFO <LIB-NAME|LIB-VER> <value>", "    Set client library name or version.",
			"INFO", "    Return information about the current client connection.",
		})
	}
}

// clientLine describes this connection as CLIENT INFO does.
func (c *conn) clientLine() string {
	resp := 2
	if c.resp3.Load() {
		resp = 3
	}
	return fmt.Sprintf("id=%d addr=%s laddr=%s name=%s db=0 user=%s resp=%d lib-name=%s lib-ver=%s",
		c.id, c.nc.RemoteAddr(), c.nc.LocalAddr(), c.name, c.userName(), resp, c.libName, c.libVer)
}

func (c *conn) userName() string {
	if c.user == "" {
		return "default"
	}
	return c.user
}

// configValues are what CONFIG GET answers: what redis-benchmark and
// common tools ask for, with jumpkv's truth (no RDB or AOF files: jumpkv's
// durability is its own --data-dir).
func (c *conn) configValues() [][2]string {
	return [][2]string{
		{"save", ""},
		{"appendonly", "no"},
		{"databases", "1"},
		{"maxclients", strconv.Itoa(c.s.cfg.MaxClients)},
		{"proto-max-bulk-len", strconv.Itoa(max(c.s.cfg.MaxValue, c.s.cfg.MaxKey))},
		{"timeout", "0"},
		{"notify-keyspace-events", "KEA"},
		{"cluster-enabled", "no"},
	}
}

func cmdConfig(c *call, args [][]byte) {
	switch strings.ToUpper(string(args[1])) {
	case "GET":
		if len(args) < 3 {
			c.r.err(errWrongArity("config|get"))
			return
		}
		var pairs [][2]string
		for _, kv := range c.configValues() {
			for _, p := range args[2:] {
				if globMatch([]byte(strings.ToLower(string(p))), []byte(kv[0])) {
					pairs = append(pairs, kv)
					break
				}
			}
		}
		c.r.mapHeader(len(pairs))
		for _, kv := range pairs {
			c.r.bulkString(kv[0])
			c.r.bulkString(kv[1])
		}
	case "SET":
		c.r.err("ERR CONFIG SET is not supported: jumpkv is configured with its command-line flags")
	case "RESETSTAT":
		c.r.ok()
	default:
		c.r.err(errUnknownSubcommand(string(args[1]), "CONFIG"))
	}
}

// cmdInfo answers INFO's sections: server, clients, stats, replication,
// keyspace and jumpkv's own.
func cmdInfo(c *call, args [][]byte) {
	want := map[string]bool{}
	for _, a := range args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := len(want) == 0 || want["all"] || want["default"] || want["everything"]
	var b strings.Builder
	section := func(name string, lines ...string) {
		if !all && !want[strings.ToLower(name)] {
			return
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + name + "\r\n")
		for _, l := range lines {
			b.WriteString(l + "\r\n")
		}
	}
	port := c.nc.LocalAddr().String()
	port = port[strings.LastIndexByte(port, ':')+1:]
	up := time.Since(c.s.started)
	section("Server",
		"redis_version:"+redisVersion,
		"jumpkv_version:"+c.s.cfg.Version,
		"redis_mode:standalone",
		"os:"+runtime.GOOS+" "+runtime.GOARCH,
		"arch_bits:64",
		"process_id:"+strconv.Itoa(os.Getpid()),
		"tcp_port:"+port,
		"uptime_in_seconds:"+strconv.FormatInt(int64(up.Seconds()), 10),
		"uptime_in_days:"+strconv.FormatInt(int64(up.Hours()/24), 10))
	section("Clients",
		"connected_clients:"+strconv.FormatInt(c.s.clients.Load(), 10),
		"maxclients:"+strconv.Itoa(c.s.cfg.MaxClients))
	section("Stats",
		"total_commands_processed:"+strconv.FormatInt(c.s.commands.Load(), 10))
	// Every node takes writes (a follower forwards them to the leader),
	// so every node is a master to Redis tools.
	section("Replication", "role:master", "connected_slaves:0")
	if all || want["keyspace"] {
		if n, err := c.dbsize(); err == nil && n > 0 {
			section("Keyspace", fmt.Sprintf("db0:keys=%d,expires=0,avg_ttl=0", n))
		} else {
			section("Keyspace")
		}
	}
	role := "follower"
	if c.s.b.Leader() == c.s.b.ID() {
		role = "leader"
	}
	section("Jumpkv",
		"node_id:"+strconv.FormatUint(uint64(c.s.b.ID()), 10),
		"node_role:"+role,
		"leader_id:"+strconv.FormatUint(uint64(c.s.b.Leader()), 10))
	c.r.bulkString(b.String())
}
