package shard

// assigner solves one balanced assignment problem: give every bucket exactly
// need distinct nodes among its allowed ones, so that every node gets q or
// q+1 buckets with at most k nodes at q+1 (the caller picks q and k so that
// nb*need == nn*q+k), keeping as many preferred pairs (bucket, node) — the
// copies or roles that already exist — as any such assignment can.
//
// It is a min-cost flow (source → bucket, cap need; bucket → node, cap 1,
// cost -1 if preferred else 0; node → sink, cap q; node → hub, cap 1;
// hub → sink, cap k) solved in four steps: hold every preferred pair, trim
// and shed down to the capacities, complete the flow of preferred pairs with
// augmenting paths (a maximum flow of preferred pairs is a minimum-cost flow
// of its value), then fill the rest greedily with zero-cost pairs and finish
// with cheapest augmenting paths. Every step keeps the flow of minimum cost
// for its value, so the result keeps the most preferred pairs possible.
//
// Nodes and buckets are dense indices; every loop runs in index order, so
// the result depends only on the inputs.
type assigner struct {
	nb, nn int
	need   int
	q, k   int
	allow  []bool  // nb*nn: pair may be used; nil allows every pair
	pref   []bool  // nb*nn: pair is preferred (already exists)
	favour []int32 // per bucket: node whose pair to give up last, or -1

	hold  []bool    // nb*nn: pair is assigned
	cnt   []int32   // per bucket: nodes assigned
	load  []int32   // per node: buckets assigned
	over  int       // nodes with load > q
	lists [][]int32 // per node: buckets assigned, in no particular order
	pos   []int32   // nb*nn: index of the bucket in lists[node]

	// co counts, for every two nodes (nn*nn), the buckets both hold; nil
	// when not tracked.
	co []int32
}

func newAssigner(nb, nn, need int, allow, pref []bool, favour []int32, spread bool) *assigner {
	total := nb * need
	a := &assigner{
		nb: nb, nn: nn, need: need,
		q: total / nn, k: total % nn,
		allow: allow, pref: pref, favour: favour,
		hold:  make([]bool, nb*nn),
		cnt:   make([]int32, nb),
		load:  make([]int32, nn),
		lists: make([][]int32, nn),
		pos:   make([]int32, nb*nn),
	}
	if spread {
		a.co = make([]int32, nn*nn)
	}
	per := total/nn + 1
	for v := range a.lists {
		a.lists[v] = make([]int32, 0, per)
	}
	return a
}

// solve computes the assignment; afterwards hold describes it.
func (a *assigner) solve() {
	a.keepPreferred()
	for a.augmentPreferred() {
	}
	a.fill()
	for a.augmentCheapest() {
	}
}

func (a *assigner) allowed(i int) bool { return a.allow == nil || a.allow[i] }

// spare reports whether node v can take one more bucket.
func (a *assigner) spare(v int) bool {
	l := int(a.load[v])
	return l < a.q || (l == a.q && a.over < a.k)
}

func (a *assigner) add(b, v int) {
	i := b*a.nn + v
	a.hold[i] = true
	a.cnt[b]++
	if int(a.load[v]) == a.q {
		a.over++
	}
	a.load[v]++
	a.pos[i] = int32(len(a.lists[v]))
	a.lists[v] = append(a.lists[v], int32(b))
	a.pair(b, v, 1)
}

// pair adds d to the co-holding counts of node v with bucket b's other
// holders.
func (a *assigner) pair(b, v int, d int32) {
	if a.co == nil {
		return
	}
	nn := a.nn
	for u := range nn {
		if u != v && a.hold[b*nn+u] {
			a.co[u*nn+v] += d
			a.co[v*nn+u] += d
		}
	}
}

func (a *assigner) remove(b, v int) {
	i := b*a.nn + v
	a.hold[i] = false
	a.pair(b, v, -1)
	a.cnt[b]--
	a.load[v]--
	if int(a.load[v]) == a.q {
		a.over--
	}
	l := a.lists[v]
	p := a.pos[i]
	last := l[len(l)-1]
	l[p] = last
	a.pos[int(last)*a.nn+v] = p
	a.lists[v] = l[:len(l)-1]
}
