package shard

// Search graph vertices: buckets are 0..nb-1, nodes nb..nb+nn-1, then the
// hub and the sink.
func (a *assigner) hub() int  { return a.nb + a.nn }
func (a *assigner) sink() int { return a.nb + a.nn + 1 }

// augmentPreferred finds one augmenting path that uses only preferred pairs
// (breadth first, from every bucket short of nodes) and applies it. It
// reports whether it found one.
func (a *assigner) augmentPreferred() bool {
	nb, nn := a.nb, a.nn
	hub, sink := a.hub(), a.sink()
	pred := make([]int32, sink+1)
	for i := range pred {
		pred[i] = -2 // unvisited
	}
	var queue []int32
	for b := range nb {
		if int(a.cnt[b]) < a.need && a.hasFreePreferred(b) {
			pred[b] = -1
			queue = append(queue, int32(b))
		}
	}
	visit := func(u, w int) bool {
		if pred[w] != -2 {
			return false
		}
		pred[w] = int32(u)
		queue = append(queue, int32(w))
		return w == sink
	}
	for h := 0; h < len(queue); h++ {
		u := int(queue[h])
		switch {
		case u < nb:
			for v := range nn {
				i := u*nn + v
				if a.pref[i] && !a.hold[i] && a.allowed(i) && visit(u, nb+v) {
					break
				}
			}
		case u < hub:
			v := u - nb
			l := int(a.load[v])
			if l < a.q {
				visit(u, sink)
			} else if l == a.q && a.k > 0 {
				visit(u, hub)
			}
			for _, b := range a.lists[v] {
				visit(u, int(b))
			}
		case u == hub:
			if a.over < a.k {
				visit(u, sink)
			}
			for v := range nn {
				if int(a.load[v]) > a.q {
					visit(u, nb+v)
				}
			}
		}
		if pred[sink] != -2 {
			a.apply(pred)
			return true
		}
	}
	return false
}

// hasFreePreferred reports whether bucket b has an allowed preferred pair it
// does not hold.
func (a *assigner) hasFreePreferred(b int) bool {
	for v := range a.nn {
		i := b*a.nn + v
		if a.pref[i] && !a.hold[i] && a.allowed(i) {
			return true
		}
	}
	return false
}

// apply applies the path that ends at the sink in the predecessor tree pred.
func (a *assigner) apply(pred []int32) {
	nb, hub := a.nb, a.hub()
	for w := a.sink(); pred[w] >= 0; {
		u := int(pred[w])
		switch {
		case u < nb && w >= nb && w < hub:
			a.add(u, w-nb)
		case u >= nb && u < hub && w < nb:
			a.remove(w, u-nb)
		}
		w = u
	}
}

// augmentCheapest finds a cheapest augmenting path (queue-based
// Bellman-Ford from every bucket short of nodes) and applies it. It reports
// whether some bucket was short of nodes.
func (a *assigner) augmentCheapest() bool {
	nb, nn := a.nb, a.nn
	hub, sink := a.hub(), a.sink()
	nv := sink + 1
	const inf = int32(1 << 30)
	dist := make([]int32, nv)
	pred := make([]int32, nv)
	inq := make([]bool, nv)
	pushes := make([]int32, nv)
	for i := range dist {
		dist[i], pred[i] = inf, -2
	}
	var queue []int32
	for b := range nb {
		if int(a.cnt[b]) < a.need {
			dist[b], pred[b], inq[b] = 0, -1, true
			queue = append(queue, int32(b))
		}
	}
	if len(queue) == 0 {
		return false
	}
	relax := func(u, w int, c int32) {
		d := dist[u] + c
		if d >= dist[w] {
			return
		}
		dist[w], pred[w] = d, int32(u)
		if !inq[w] && w != sink {
			pushes[w]++
			if int(pushes[w]) > nv {
				panic("shard: negative cycle in placement search")
			}
			inq[w] = true
			queue = append(queue, int32(w))
		}
	}
	for h := 0; h < len(queue); h++ {
		u := int(queue[h])
		inq[u] = false
		switch {
		case u < nb:
			for v := range nn {
				i := u*nn + v
				if a.hold[i] || !a.allowed(i) {
					continue
				}
				c := int32(0)
				if a.pref[i] {
					c = -1
				}
				relax(u, nb+v, c)
			}
		case u < hub:
			v := u - nb
			l := int(a.load[v])
			if l < a.q {
				relax(u, sink, 0)
			} else if l == a.q && a.k > 0 {
				relax(u, hub, 0)
			}
			for _, b := range a.lists[v] {
				c := int32(0)
				if a.pref[int(b)*nn+v] {
					c = 1
				}
				relax(u, int(b), c)
			}
		case u == hub:
			if a.over < a.k {
				relax(u, sink, 0)
			}
			for v := range nn {
				if int(a.load[v]) > a.q {
					relax(u, nb+v, 0)
				}
			}
		}
	}
	if dist[sink] == inf {
		panic("shard: no balanced placement found")
	}
	a.apply(pred)
	return true
}
