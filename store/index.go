package store

import "hash/maphash"

// index maps a bucket's keys to their records: an open-addressing hash
// table with linear probing, 9 bytes per slot (a record pointer and a tag).
// It holds at most 3/4 as many records as slots and doubles when full, so
// at 1M keys over 1024 buckets it costs ~19 bytes per key. Deletion shifts
// the following records back, so there are no deletion markers.
//
// The tags let a probe skip other keys' slots without touching their
// records (a cache miss each). The hash is seeded per process, so clients
// cannot choose keys that collide.
//
// index is not safe for concurrent use; its bucket's lock guards it.
type index struct {
	recs []record // recs[i] is meaningful only where tags[i] != 0
	tags []uint8  // 0 for an empty slot, else tagOf the key's hash
	n    int      // records held
}

const minIndexSize = 8 // slots in a new index; a power of two

var hashSeed = maphash.MakeSeed()

func hashKey(key string) uint64 { return maphash.String(hashSeed, key) }

// tagOf is a slot's tag for hash h: its top 7 bits, never 0.
func tagOf(h uint64) uint8 { return uint8(h>>57) | 0x80 }

// lookup returns key's slot and true, or the empty slot where key would go
// and false. h is hashKey(key); x must have slots.
func (x *index) lookup(key string, h uint64) (int, bool) {
	mask := len(x.tags) - 1
	t := tagOf(h)
	for i := int(h) & mask; ; i = (i + 1) & mask {
		switch x.tags[i] {
		case 0:
			return i, false
		case t:
			if x.recs[i].hasKey(key) {
				return i, true
			}
		}
	}
}

// get returns key's record.
func (x *index) get(key string) (record, bool) {
	if x.n == 0 {
		return record{}, false
	}
	i, ok := x.lookup(key, hashKey(key))
	return x.recs[i], ok
}

// find is lookup that also works on an index without slots (returning -1).
func (x *index) find(key string, h uint64) (int, bool) {
	if len(x.tags) == 0 {
		return -1, false
	}
	return x.lookup(key, h)
}

// insert adds r, whose key hashes to h and is absent, at slot i as returned
// by find, growing the index first if it is full.
func (x *index) insert(i int, h uint64, r record) {
	if 4*(x.n+1) > 3*len(x.tags) {
		x.resize(max(minIndexSize, 2*len(x.tags)))
		i = x.emptySlot(h)
	}
	x.recs[i], x.tags[i] = r, tagOf(h)
	x.n++
}

// remove deletes the record at slot i, moving later records of its probe
// run back so every record stays reachable from its home slot.
func (x *index) remove(i int) {
	mask := len(x.tags) - 1
	for j := (i + 1) & mask; x.tags[j] != 0; j = (j + 1) & mask {
		home := int(hashKey(x.recs[j].key())) & mask
		// The record at j may move to the hole at i unless its home lies
		// cyclically in (i, j].
		if (j-home)&mask >= (j-i)&mask {
			x.recs[i], x.tags[i] = x.recs[j], x.tags[j]
			i = j
		}
	}
	x.recs[i], x.tags[i] = record{}, 0
	x.n--
}

// emptySlot returns the first empty slot of hash h's probe run.
func (x *index) emptySlot(h uint64) int {
	mask := len(x.tags) - 1
	i := int(h) & mask
	for x.tags[i] != 0 {
		i = (i + 1) & mask
	}
	return i
}

// resize rehashes every record into a new table of size slots, a power of
// two with room for them.
func (x *index) resize(size int) {
	old, oldTags := x.recs, x.tags
	x.recs, x.tags = make([]record, size), make([]uint8, size)
	for j, t := range oldTags {
		if t != 0 {
			i := x.emptySlot(hashKey(old[j].key()))
			x.recs[i], x.tags[i] = old[j], t
		}
	}
}

// shrink halves the table while it would stay at most 3/8 full, and drops
// it when empty, so purges give memory back.
func (x *index) shrink() {
	size := len(x.tags)
	for size > minIndexSize && 8*x.n <= 3*(size/2) {
		size /= 2
	}
	switch {
	case x.n == 0:
		*x = index{}
	case size != len(x.tags):
		x.resize(size)
	}
}
