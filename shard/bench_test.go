package shard

import (
	"strconv"
	"testing"
)

func BenchmarkBucketOf(b *testing.B) {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	sum := 0
	for i := 0; b.Loop(); i++ {
		sum += BucketOf(keys[i&1023], 1024)
	}
	if sum < 0 {
		b.Fatal(sum)
	}
}

// planCase is a join: from a balanced table over members-1 nodes, plan
// over members nodes.
func planCase(buckets, members, replicas int) (Table, []NodeID) {
	ids := make([]NodeID, members)
	for i := range ids {
		ids[i] = NodeID(i + 1)
	}
	return Plan(Table{}, buckets, ids[:members-1], replicas), ids
}

func BenchmarkPlan(b *testing.B) {
	for _, c := range []struct {
		name                       string
		buckets, members, replicas int
		fresh                      bool
	}{
		{"join/B=1024/n=10/r=6", 1024, 10, 6, false},
		{"leave/B=1024/n=10/r=6", 1024, 10, 6, false},
		{"initial/B=1024/n=10/r=6", 1024, 10, 6, true},
		{"join/B=16384/n=10/r=6", 16384, 10, 6, false},
		{"initial/B=16384/n=10/r=6", 16384, 10, 6, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			old, ids := planCase(c.buckets, c.members, c.replicas)
			switch {
			case c.fresh:
				old = Table{}
			case c.name[:5] == "leave":
				old = Plan(Table{}, c.buckets, ids, c.replicas)
				ids = ids[1:]
			}
			b.ReportAllocs()
			for b.Loop() {
				Plan(old, c.buckets, ids, c.replicas)
			}
		})
	}
}
