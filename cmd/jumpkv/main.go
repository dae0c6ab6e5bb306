// Command jumpkv is a distributed, durable key-value store served over
// HTTP. One binary runs a node, starts a local cluster, and talks to one as
// a client; `jumpkv help` lists the commands.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		cancel(stopSignal{s})
		<-sigs
		fmt.Fprintln(os.Stderr, "jumpkv: second signal: exiting at once")
		os.Exit(1)
	}()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// stopSignal is the cause of the run context's end when a signal stopped
// the process: SIGTERM asks a node to hand its buckets off before exiting,
// SIGINT (Ctrl-C) to stop at once.
type stopSignal struct{ sig os.Signal }

func (s stopSignal) Error() string { return "received " + s.sig.String() }

// gracefulStop reports whether ctx ended because of SIGTERM.
func gracefulStop(ctx context.Context) bool {
	s, ok := context.Cause(ctx).(stopSignal)
	return ok && s.sig == syscall.SIGTERM
}

// usage is the top-level help.
const usage = `jumpkv: a distributed key-value store, kept in memory and on disk, over HTTP,
the Redis protocol and FTP.

Usage:
  jumpkv cluster [--nodes 3] [--http-port 8080] [--peer-port 7070] [--redis-port 6380]
                 [--ftp-port 2121] [--data-dir jumpkv-data] [-- node flags]
                                 start a local cluster of node processes on 127.0.0.1
  jumpkv node [flags]            run one node (jumpkv node --help lists its flags)
  jumpkv get KEY [-v]            print a key's value (-v: with its version and content type)
  jumpkv put KEY [VALUE]         set a key (the value is read from stdin when omitted);
                                 --if-match VERSION, --if-absent, --content-type, --ttl
  jumpkv del KEY                 delete a key (del --prefix P deletes every key under P)
  jumpkv ls [PREFIX]             list keys, optionally under a prefix
  jumpkv watch [PREFIX]          print changes under a prefix as they happen
  jumpkv status                  the cluster as a table (also: jumpkv members)
  jumpkv member remove ID|NAME   take a dead node that will not come back out of the cluster
  jumpkv health                  exit 0 when a node answers /healthz
  jumpkv bench [flags]           load-test a cluster, or one it starts (jumpkv bench --help)
  jumpkv help                    show this help

Client commands take --addr URL[,URL...] (default http://127.0.0.1:8080, or
$JUMPKV_ADDR), failing over from one node to the next, and -o json. Flags go
anywhere on the line: jumpkv --addr X get k and jumpkv get k --addr X are
the same. jumpkv get --help lists every client flag.

Try it:
  go run ./cmd/jumpkv cluster            # in one terminal
  jumpkv put greeting hello              # in another
  jumpkv get greeting
  curl -X PUT -H 'Content-Type: text/plain' --data-binary hello localhost:8080/v1/kv/greeting
`

// run runs one jumpkv command and returns its exit code: 0 on success, 1
// when the command failed, 2 for a usage mistake.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	args = hoistFlags(args, isBoolFlag)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "node":
		return runNode(ctx, rest, env, stdout, stderr)
	case "cluster":
		return runCluster(ctx, rest, env, stdout, stderr)
	case "bench", "bench-baseline-server":
		return runBench(ctx, cmd, rest, env, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	if _, ok := clientCommands[cmd]; ok {
		return runClient(ctx, cmd, rest, env, os.Stdin, stdout, stderr)
	}
	if strings.HasPrefix(cmd, "-") {
		fmt.Fprintf(stderr, "jumpkv: %s before any command: want jumpkv [flags] COMMAND [args] (jumpkv help lists the commands)\n", cmd)
		return 2
	}
	fmt.Fprintf(stderr, "jumpkv: unknown command %q (jumpkv help lists the commands)\n", cmd)
	return 2
}

// isBoolFlag reports whether a flag of any command takes no value, for
// hoistFlags.
func isBoolFlag(name string) bool {
	for _, fs := range allFlagSets() {
		if f := fs.Lookup(name); f != nil {
			b, ok := f.Value.(interface{ IsBoolFlag() bool })
			return ok && b.IsBoolFlag()
		}
	}
	return false
}

// allFlagSets returns a flag set of each command, for looking flags up.
func allFlagSets() []*flag.FlagSet {
	client := flag.NewFlagSet("client", flag.ContinueOnError)
	addClientFlags(client)
	client.Bool("v", false, "")
	client.Bool("if-absent", false, "")
	client.Bool("yes", false, "")
	node, _ := newNodeFlags(io.Discard)
	return []*flag.FlagSet{client, node}
}
