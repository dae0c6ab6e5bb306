package bench

import (
	"fmt"
	"net"
	"net/url"
)

// Which nodes of a cluster a run sends to.
const (
	TargetAll      = "all"
	TargetLeader   = "leader"
	TargetFollower = "follower"
)

// ClusterView is the part of GET /v1/cluster that target selection reads.
type ClusterView struct {
	Leader uint64 `json:"leader"`
	Epoch  uint64 `json:"epoch"`
	Nodes  []struct {
		ID    uint64 `json:"id"`
		HTTP  string `json:"http"`
		State string `json:"state"`
	} `json:"nodes"`
}

// Target is a node to send to.
type Target struct {
	URL    string // base URL
	Node   uint64 // the node's ID (X-Jumpkv-Node); 0 when unknown
	Leader bool   // whether it led when the run began
}

// SelectTargets picks the nodes a run sends to. given are the base URLs
// the user named, each with the node ID it answered with (0: unknown);
// view is the cluster as one of them sees it. TargetAll keeps given.
// TargetLeader is the leader: one of given if it is there, else the
// leader's address from view. TargetFollower is every given node that does
// not lead, or, when there is none, every live non-leader in view. An
// address from view that names no host (":8080", "0.0.0.0:8080") takes
// the host of the first given URL.
func SelectTargets(kind string, given []Target, view ClusterView) ([]Target, error) {
	if len(given) == 0 {
		return nil, fmt.Errorf("no node to send to")
	}
	for i := range given {
		given[i].Leader = view.Leader != 0 && given[i].Node == view.Leader
	}
	if kind == TargetAll {
		return given, nil
	}
	if kind != TargetLeader && kind != TargetFollower {
		return nil, fmt.Errorf("--target %q: want leader, follower or all", kind)
	}
	if view.Leader == 0 {
		return nil, fmt.Errorf("--target %s: no leader is known (GET /v1/cluster answered none)", kind)
	}
	ref, err := ParseBaseURL(given[0].URL)
	if err != nil {
		return nil, err
	}
	var out []Target
	if kind == TargetLeader {
		for _, t := range given {
			if t.Leader {
				return []Target{t}, nil
			}
		}
		for _, n := range view.Nodes {
			if n.ID == view.Leader {
				u, err := nodeURL(n.HTTP, ref)
				if err != nil {
					return nil, err
				}
				return []Target{{URL: u, Node: n.ID, Leader: true}}, nil
			}
		}
		return nil, fmt.Errorf("--target leader: the leader (node %d) is not among the cluster's nodes", view.Leader)
	}
	for _, t := range given {
		if t.Node != 0 && !t.Leader {
			out = append(out, t)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	for _, n := range view.Nodes {
		if n.ID != view.Leader && (n.State == "" || n.State == "alive") {
			u, err := nodeURL(n.HTTP, ref)
			if err != nil {
				return nil, err
			}
			out = append(out, Target{URL: u, Node: n.ID})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--target follower: the cluster has no live follower")
	}
	return out, nil
}

// nodeURL turns a node's HTTP listen address into a base URL, borrowing
// the scheme, and the host when the address names none, from ref.
func nodeURL(addr string, ref *url.URL) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("node HTTP address %q: %v", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = ref.Hostname()
	}
	return ref.Scheme + "://" + net.JoinHostPort(host, port), nil
}
