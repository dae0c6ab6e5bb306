package node

import (
	"strconv"
	"testing"
)

func TestInDoubtMarksClearsAndForgetsOldTerms(t *testing.T) {
	var d inDoubt
	if d.has(1, "a") {
		t.Fatal("empty set has a")
	}
	d.mark(1, "a")
	if !d.has(1, "a") || d.has(1, "b") {
		t.Fatal("after marking a under term 1: want a in doubt, b not")
	}
	d.clear(1, "a")
	if d.has(1, "a") {
		t.Fatal("a still in doubt after a write of it succeeded")
	}
	d.mark(1, "a")
	if d.has(2, "a") {
		t.Fatal("a mark of term 1 counts under term 2")
	}
	d.mark(2, "b")
	if d.has(2, "a") || !d.has(2, "b") {
		t.Fatal("marking under term 2 did not forget term 1's marks")
	}
}

func TestInDoubtOverflowCountsEveryKey(t *testing.T) {
	var d inDoubt
	for i := range maxInDoubt + 1 {
		d.mark(1, strconv.Itoa(i))
	}
	if !d.has(1, "never-written") {
		t.Fatal("past the bound, every key must count as in doubt")
	}
	d.clear(1, "never-written")
	if !d.has(1, "never-written") {
		t.Fatal("a success cleared the overflow")
	}
	if d.has(2, "never-written") {
		t.Fatal("the overflow outlived its term")
	}
}

func TestWriteStripesSeeAWriteInBetween(t *testing.T) {
	w := make(writeStripes, 4)
	s, idle := w.snapshot(1)
	if !idle || !w.unchanged(1, s) {
		t.Fatal("fresh stripe: want idle and unchanged")
	}
	w.begin(1)
	if _, idle := w.snapshot(1); idle {
		t.Fatal("stripe idle during a write")
	}
	if w.unchanged(1, s) {
		t.Fatal("a write that began after the snapshot went unseen")
	}
	w.end(1)
	if w.unchanged(1, s) {
		t.Fatal("a write that began and ended after the snapshot went unseen")
	}
	if s2, idle := w.snapshot(1); !idle || !w.unchanged(1, s2) || !w.unchanged(2, 0) {
		t.Fatal("after the write: want idle; other stripes untouched")
	}
}

// TestInDoubtLateEarlierTermWrites checks that a write of an earlier term
// ending after this node leads again cannot erase or clear the newer
// term's marks, and that a reader still holding an earlier term does not
// trust its copy while newer marks exist.
func TestInDoubtLateEarlierTermWrites(t *testing.T) {
	var d inDoubt
	d.mark(3, "k2")
	d.mark(1, "k1") // a term-1 write failing late
	if !d.has(3, "k2") {
		t.Fatal("a late mark of term 1 erased term 3's marks")
	}
	d.clear(1, "k2") // a term-1 write of k2 succeeding late
	if !d.has(3, "k2") {
		t.Fatal("a late success of term 1 cleared a term-3 mark")
	}
	if !d.has(1, "unrelated") {
		t.Fatal("a reader of term 1 trusted its copy while term 3 has marks")
	}
	if d.has(4, "k2") {
		t.Fatal("term 3's marks count under term 4")
	}
}
