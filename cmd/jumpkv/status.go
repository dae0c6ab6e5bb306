package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jumpkv/jumpkv/client"
)

// cmdStatus prints the cluster as the node that answers sees it: a
// summary, any warnings, then one row per member.
func cmdStatus(ctx context.Context, c *client.Client, out *output) error {
	ci, err := c.Cluster(ctx)
	if err != nil {
		return err
	}
	if out.json {
		return out.encode(ci)
	}
	return writeStatus(out.w, ci, time.Now())
}

// writeStatus writes the table of `jumpkv status`.
func writeStatus(w io.Writer, ci *client.ClusterInfo, now time.Time) error {
	names := map[uint64]string{}
	for _, n := range ci.Nodes {
		names[n.ID] = n.Name
	}
	leader := "none known"
	if ci.Leader != 0 {
		leader = nodeLabel(ci.Leader, names[ci.Leader])
	}
	mode := ci.Mode
	if mode == "" {
		mode = "unknown"
	}
	fmt.Fprintf(w, "leader:   %s, %s, mode %s\n", leader, termText(ci.Term, now), mode)
	replicas := strconv.Itoa(ci.Replicas)
	if ci.ReplicasWanted > ci.Replicas {
		replicas = fmt.Sprintf("%d (wanted %d)", ci.Replicas, ci.ReplicasWanted)
	}
	fmt.Fprintf(w, "cluster:  %d members, %s copies of each of %d buckets, placement epoch %d\n", len(ci.Nodes), replicas, ci.Buckets, ci.Epoch)
	for _, warn := range ci.Warnings {
		fmt.Fprintf(w, "warning:  %s\n", warn)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tHTTP\tSTATE\tROLE\tPRIMARY\tBACKUP\tKEYS")
	for _, n := range ci.Nodes {
		name := n.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%d\t%d\n", name, n.ID, n.HTTP, n.State, n.Role, n.BucketsPrimary, n.BucketsBackup, n.Keys)
	}
	return tw.Flush()
}

// nodeLabel is a node as people read it: "node-2 (211106266235566)", or
// the ID alone for a node without a name.
func nodeLabel(id uint64, name string) string {
	if name == "" {
		return strconv.FormatUint(id, 10)
	}
	return fmt.Sprintf("%s (%d)", name, id)
}

// termText shows a term as when it began: terms are numbered from the
// microsecond clock, so a term is (at least) its start time. A term that
// is not a plausible time is shown as a number.
func termText(term uint64, now time.Time) string {
	if term == 0 {
		return "no term yet"
	}
	start := time.UnixMicro(int64(min(term, 1<<62)))
	if start.Year() < 2020 || start.After(now.Add(time.Hour)) {
		return fmt.Sprintf("term %d", term)
	}
	return fmt.Sprintf("term began %s ago (%s)", now.Sub(start).Round(time.Second), start.UTC().Format("2006-01-02 15:04:05 UTC"))
}

// cmdMemberRemove removes a dead member, named by ID or by name.
func cmdMemberRemove(ctx context.Context, c *client.Client, which string, out *output) error {
	ci, err := c.Cluster(ctx)
	if err != nil {
		return err
	}
	var found *client.NodeInfo
	for i, n := range ci.Nodes {
		if strconv.FormatUint(n.ID, 10) == which || n.Name != "" && n.Name == which {
			if found != nil {
				return usagef("%q names more than one member: give the ID", which)
			}
			found = &ci.Nodes[i]
		}
	}
	if found == nil {
		var known []string
		for _, n := range ci.Nodes {
			known = append(known, nodeLabel(n.ID, n.Name))
		}
		return fmt.Errorf("%q is no member: the members are %s", which, strings.Join(known, ", "))
	}
	err = c.RemoveMember(ctx, found.ID)
	var e *client.Error
	if errors.As(err, &e) && e.Status == 404 && strings.Contains(e.Message, "no such route") {
		return errors.New("this node does not know member removal: upgrade it")
	}
	if err != nil {
		return err
	}
	if out.json {
		return out.encode(map[string]any{"removed": found.ID, "name": found.Name})
	}
	_, err = fmt.Fprintf(out.w, "removed %s: its buckets are re-replicated from the other copies\n", nodeLabel(found.ID, found.Name))
	return err
}
