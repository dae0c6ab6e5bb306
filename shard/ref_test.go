package shard

import "slices"

// This file holds test-only reference computations, written independently
// of the planner: a Dinic maximum flow and a Bellman-Ford min-cost flow.

// refGraph is a flow network with integer capacities and costs.
type refGraph struct {
	head []int
	to   []int
	next []int
	cap  []int
	cost []int
}

func newRefGraph(n int) *refGraph {
	g := &refGraph{head: make([]int, n)}
	for i := range g.head {
		g.head[i] = -1
	}
	return g
}

func (g *refGraph) edge(u, v, c, cost int) {
	for _, e := range [2][4]int{{u, v, c, cost}, {v, u, 0, -cost}} {
		g.to = append(g.to, e[1])
		g.cap = append(g.cap, e[2])
		g.cost = append(g.cost, e[3])
		g.next = append(g.next, g.head[e[0]])
		g.head[e[0]] = len(g.to) - 1
	}
}

// maxFlow returns the maximum flow from s to t (Dinic), ignoring costs.
func (g *refGraph) maxFlow(s, t int) int {
	n := len(g.head)
	level := make([]int, n)
	it := make([]int, n)
	var dfs func(u, f int) int
	dfs = func(u, f int) int {
		if u == t {
			return f
		}
		for ; it[u] >= 0; it[u] = g.next[it[u]] {
			e := it[u]
			v := g.to[e]
			if g.cap[e] > 0 && level[v] == level[u]+1 {
				if d := dfs(v, min(f, g.cap[e])); d > 0 {
					g.cap[e] -= d
					g.cap[e^1] += d
					return d
				}
			}
		}
		return 0
	}
	flow := 0
	for {
		for i := range level {
			level[i] = -1
		}
		level[s] = 0
		q := []int{s}
		for len(q) > 0 {
			u := q[0]
			q = q[1:]
			for e := g.head[u]; e >= 0; e = g.next[e] {
				if v := g.to[e]; g.cap[e] > 0 && level[v] < 0 {
					level[v] = level[u] + 1
					q = append(q, v)
				}
			}
		}
		if level[t] < 0 {
			return flow
		}
		copy(it, g.head)
		for {
			f := dfs(s, 1<<30)
			if f == 0 {
				break
			}
			flow += f
		}
	}
}

// minCostFlow pushes as much flow as possible from s to t by successive
// shortest paths (queue-based Bellman-Ford), starting from the flow already
// in g, which must be of minimum cost for its value, and returns the flow
// added and its cost.
func (g *refGraph) minCostFlow(s, t int) (flow, cost int) {
	n := len(g.head)
	const inf = 1 << 30
	dist := make([]int, n)
	via := make([]int, n)
	inq := make([]bool, n)
	for {
		for i := range dist {
			dist[i], via[i] = inf, -1
		}
		dist[s] = 0
		q := []int{s}
		for steps := 0; len(q) > 0; steps++ {
			if steps > n*len(g.to) {
				panic("negative cycle")
			}
			u := q[0]
			q = q[1:]
			inq[u] = false
			for e := g.head[u]; e >= 0; e = g.next[e] {
				if v := g.to[e]; g.cap[e] > 0 && dist[u]+g.cost[e] < dist[v] {
					dist[v], via[v] = dist[u]+g.cost[e], e
					if !inq[v] {
						inq[v] = true
						q = append(q, v)
					}
				}
			}
		}
		if dist[t] == inf {
			return flow, cost
		}
		f := inf
		for v := t; v != s; v = g.to[via[v]^1] {
			f = min(f, g.cap[via[v]])
		}
		for v := t; v != s; v = g.to[via[v]^1] {
			g.cap[via[v]] -= f
			g.cap[via[v]^1] += f
		}
		flow += f
		cost += f * dist[t]
	}
}

// memberSet returns members sorted without duplicates.
func memberSet(members []NodeID) []NodeID {
	ids := slices.Clone(members)
	slices.Sort(ids)
	return slices.Compact(ids)
}

// effectiveReplicas is the replica count Plan must use.
func effectiveReplicas(n, replicas int) int {
	if n == 0 {
		return 0
	}
	return min(max(replicas, 1), n)
}

// liveHolders returns the distinct members among old's replicas of bucket b.
func liveHolders(old *Table, b int, ids []NodeID) []NodeID {
	var out []NodeID
	for _, id := range old.Replicas(b) {
		if _, ok := slices.BinarySearch(ids, id); ok && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// optimalMoves returns the fewest copies any balanced table over members
// (every bucket r replicas, copies per node within one) must add to old:
// B*r minus the maximum flow of source → bucket (cap min(r, live holders)),
// bucket → old holder (cap 1), holder → sink (cap floor(B*r/n)), holder →
// hub (cap 1), hub → sink (cap B*r mod n).
func optimalMoves(old *Table, buckets int, members []NodeID, replicas int) int {
	ids := memberSet(members)
	n := len(ids)
	if n == 0 {
		return 0
	}
	r := effectiveReplicas(n, replicas)
	src, hub, sink := buckets+n, buckets+n+1, buckets+n+2
	g := newRefGraph(buckets + n + 3)
	for b := range buckets {
		h := liveHolders(old, b, ids)
		if len(h) == 0 {
			continue
		}
		g.edge(src, b, min(r, len(h)), 0)
		for _, id := range h {
			v, _ := slices.BinarySearch(ids, id)
			g.edge(b, buckets+v, 1, 0)
		}
	}
	total := buckets * r
	for v := range n {
		g.edge(buckets+v, sink, total/n, 0)
		g.edge(buckets+v, hub, 1, 0)
	}
	g.edge(hub, sink, total%n, 0)
	return total - g.maxFlow(src, sink)
}

// exactMoves returns the fewest copies any balanced table over members must
// add to old, by min-cost flow: source → bucket (cap r), bucket → node (cap
// 1, cost -1 where the node held the bucket, else 0), node → sink (cap
// floor(B*r/n)), node → hub (cap 1), hub → sink (cap B*r mod n). It first
// takes a maximum flow over held pairs only (of minimum cost for its
// value), then completes it by cheapest paths.
func exactMoves(old *Table, buckets int, members []NodeID, replicas int) int {
	ids := memberSet(members)
	n := len(ids)
	if n == 0 {
		return 0
	}
	r := effectiveReplicas(n, replicas)
	src, hub, sink := buckets+n, buckets+n+1, buckets+n+2
	g := newRefGraph(buckets + n + 3)
	var fresh []int // edges to open after the first phase
	for b := range buckets {
		g.edge(src, b, r, 0)
		h := liveHolders(old, b, ids)
		for v, id := range ids {
			if slices.Contains(h, id) {
				g.edge(b, buckets+v, 1, -1)
			} else {
				fresh = append(fresh, len(g.to))
				g.edge(b, buckets+v, 0, 0)
			}
		}
	}
	total := buckets * r
	for v := range n {
		g.edge(buckets+v, sink, total/n, 0)
		g.edge(buckets+v, hub, 1, 0)
	}
	g.edge(hub, sink, total%n, 0)
	kept := g.maxFlow(src, sink)
	for _, e := range fresh {
		g.cap[e] = 1
	}
	flow, cost := g.minCostFlow(src, sink)
	if kept+flow != total {
		panic("no balanced table")
	}
	return total - (kept - cost)
}

// primaryBound returns, for table next planned from old, the most buckets
// that could keep their old primary with the replica sets of next and
// balanced primaries (exact, by min-cost flow), and the most that could
// ignoring whether the other buckets can still be given a primary (maximum
// flow over old primaries only). exact is -1 when skipExact is set.
func primaryBound(old, next *Table, members []NodeID, skipExact bool) (exact, loose int) {
	ids := memberSet(members)
	n, buckets := len(ids), len(next.Buckets)
	if n == 0 {
		return 0, 0
	}
	build := func(onlyOld bool) (*refGraph, int, int) {
		src, hub, sink := buckets+n, buckets+n+1, buckets+n+2
		g := newRefGraph(buckets + n + 3)
		for b := range buckets {
			g.edge(src, b, 1, 0)
			for _, id := range next.Replicas(b) {
				v, _ := slices.BinarySearch(ids, id)
				isOld := b < len(old.Buckets) && len(old.Buckets[b]) > 0 && id == old.Buckets[b][0]
				switch {
				case isOld:
					g.edge(b, buckets+v, 1, -1)
				case !onlyOld:
					g.edge(b, buckets+v, 1, 0)
				}
			}
		}
		for v := range n {
			g.edge(buckets+v, sink, buckets/n, 0)
			g.edge(buckets+v, hub, 1, 0)
		}
		g.edge(hub, sink, buckets%n, 0)
		return g, src, sink
	}
	g, s, t := build(true)
	loose = g.maxFlow(s, t)
	exact = -1
	if !skipExact {
		g, s, t = build(false)
		flow, cost := g.minCostFlow(s, t)
		if flow != buckets {
			panic("no balanced primary assignment")
		}
		exact = -cost
	}
	return exact, loose
}

// keptPrimaries counts the buckets whose primary in next is old's primary.
func keptPrimaries(old, next *Table) int {
	kept := 0
	for b := range next.Buckets {
		if b < len(old.Buckets) && len(old.Buckets[b]) > 0 && len(next.Buckets[b]) > 0 && old.Buckets[b][0] == next.Buckets[b][0] {
			kept++
		}
	}
	return kept
}
