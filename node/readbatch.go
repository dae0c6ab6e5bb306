package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/wire"
)

// GetResult is one key's answer from GetMany: what Get would return.
type GetResult struct {
	Entry store.Entry
	Err   error
}

// GetMany reads keys, each as Get would (the same checks, the same routes,
// the same errors), and returns their results in the same order. Reads
// this node answers from its own copy are answered at once; reads of keys
// whose primary is another node that serves wire.ReadBatch go to it in
// batches, shared with other callers' reads of it waiting at the same
// time (batcher.go), to all such nodes at once. A read a batch does not
// settle (no answer, the primary's lease being renewed, a changed
// assignment) is done again alone, as Get. The reads are not ordered among
// themselves: each is linearizable on its own, as concurrent Gets are.
func (n *Node) GetMany(_ context.Context, keys []string) []GetResult {
	res := make([]GetResult, len(keys))
	reads := make([]keyRead, len(keys))
	var groups []readGroup // the reads to send in batches, by primary
	now := time.Now()
	n.mu.Lock()
	for i, key := range keys {
		if res[i].Err = n.checkKey(key); res[i].Err != nil {
			reads[i].how = readDone
			continue
		}
		r := &reads[i]
		r.bucket = shard.BucketOf(key, n.cfg.Buckets)
		p, err := n.planReadLocked(now, r.bucket, false)
		if err != nil {
			continue // readAlone: Get says why
		}
		r.plan, r.how = p, readPlanned
		if p.route == routeRemotePrimary && n.peerStats[p.primary].reads {
			r.how = readBatched
			groups = addToGroup(groups, p.addr, i)
		}
	}
	n.mu.Unlock()

	var alone []int // the reads to do as Get
	for i := range reads {
		r := &reads[i]
		if r.how == readPlanned || r.how == readBatched {
			if e, found, ok := n.readLocalCopy(&r.plan, r.bucket, keys[i]); ok {
				var askLeader bool
				if res[i].Entry, askLeader, res[i].Err = n.readAnswer(keys[i], e, found); askLeader {
					r.how = readAlone // Get asks the leader
				} else {
					r.how = readDone
				}
			}
		}
		if r.how == readAlone || r.how == readPlanned {
			alone = append(alone, i)
		}
	}
	// As Get, the peer calls are bounded by CallTimeout, not by the client.
	ctx := n.deadlines.get(now)
	var (
		wg      sync.WaitGroup
		retryMu sync.Mutex
		here    func() // one batch is sent from this goroutine, whose stack has grown already
	)
	for _, g := range groups {
		idx := slices.DeleteFunc(g.idx, func(i int) bool { return reads[i].how != readBatched })
		if len(idx) == 0 {
			continue
		}
		send := func() {
			retry := n.readBatchAt(ctx, g.addr, idx, keys, reads, res)
			retryMu.Lock()
			alone = append(alone, retry...)
			retryMu.Unlock()
		}
		if here == nil {
			here = send
		} else {
			wg.Go(send) // the others beside it
		}
	}
	if here != nil {
		here()
	}
	wg.Wait()
	n.getEach(keys, alone, res)
	return res
}

// getManyParallel bounds the reads GetMany redoes as Get at once.
const getManyParallel = 16

// getEach reads keys idx as Get, up to getManyParallel at once: each read
// of a primary that is down waits out its own timeouts, and they should
// not add up.
func (n *Node) getEach(keys []string, idx []int, res []GetResult) {
	if len(idx) == 1 {
		res[idx[0]].Entry, res[idx[0]].Err = n.Get(context.Background(), keys[idx[0]])
		return
	}
	g := &boundedGroup{limit: getManyParallel}
	for _, i := range idx {
		g.Go(func() { res[i].Entry, res[i].Err = n.Get(context.Background(), keys[i]) })
	}
	g.Wait()
}

// keyRead is one key's read in GetMany: its bucket, its plan, and how it
// is served.
type keyRead struct {
	bucket int
	plan   readPlan
	how    uint8
}

// How a read of GetMany is served.
const (
	readAlone   = iota // as Get (unplanned: Get says why)
	readPlanned        // from the local copy, else as Get
	readBatched        // from the local copy, else in a batch to its primary
	readDone           // answered
)

// readGroup is the reads GetMany sends to one primary in batches.
type readGroup struct {
	addr string
	idx  []int
}

// addToGroup adds read i to addr's group.
func addToGroup(groups []readGroup, addr string, i int) []readGroup {
	for j := range groups {
		if groups[j].addr == addr {
			groups[j].idx = append(groups[j].idx, i)
			return groups
		}
	}
	return append(groups, readGroup{addr: addr, idx: []int{i}})
}

// batchedRead is one read of a primary carried in a ReadBatch (shared
// with other reads waiting for the same primary, batcher.go), with its
// answer.
type batchedRead struct {
	read    wire.Read
	primary shard.NodeID // the node the read is asked of
	found   bool         // the answer, set when the batch's call succeeds
	entry   store.Entry
}

// BatchBytes is what the read adds to the bytes of its batch: its key, and
// readAnswerGuess for its answer.
func (r *batchedRead) BatchBytes() int { return len(r.read.Key) + readAnswerGuess }

// readAnswerGuess is what a batch counts for each read's answer, so that
// the answers of a full batch (batchMaxBytes) of values up to 16 KiB fit
// readBatchAnswerBytes: larger ones take more rounds (readBatchAt).
const readAnswerGuess = 4 << 10

// readBatchRounds bounds the rounds of batches readBatchAt sends for the
// reads a primary left unanswered because its answer was full.
const readBatchRounds = 8

// errAnswerFull is a read a primary left unanswered because the answer to
// its batch was full (onReadBatch): it is sent again in the next round.
var errAnswerFull = fmt.Errorf("%w: %s", wire.ErrUnavailable, answerFullText)

// unavailableCode is ErrUnavailable's wire code.
var unavailableCode = wire.CodeOf(wire.ErrUnavailable)

// answerFullText ends the message of a read left unanswered so.
const answerFullText = "the batch's answer is full: read the key alone"

// readBatchers holds a batcher of reads per primary.
type readBatchers = batchers[batchedRead, *batchedRead]

// readBatchAt reads keys idx from their primary at addr in ReadBatches,
// with other reads of it waiting at the same time, setting their results,
// and returns those the batches did not settle. Reads the primary left
// unanswered because a batch's answer was full go again, up to
// readBatchRounds rounds.
func (n *Node) readBatchAt(ctx context.Context, addr string, idx []int, keys []string, reads []keyRead, res []GetResult) (retry []int) {
	b := n.readBatchers.get(addr)
	for round := 0; len(idx) > 0; round++ {
		if round == readBatchRounds {
			return append(retry, idx...)
		}
		msgs := make([]batchedRead, len(idx))
		for j, i := range idx {
			msgs[j].read = wire.Read{Bucket: reads[i].bucket, Since: reads[i].plan.since, Key: keys[i]}
			msgs[j].primary = reads[i].plan.primary
		}
		var again []int
		for j, err := range b.doMany(ctx, msgs, b.send) {
			i := idx[j]
			switch {
			case errors.Is(err, errAnswerFull):
				again = append(again, i)
			case err != nil:
				retry = append(retry, i)
			default:
				var askLeader bool
				if res[i].Entry, askLeader, res[i].Err = n.readAnswer(keys[i], msgs[j].entry, msgs[j].found); askLeader {
					retry = append(retry, i) // Get asks the leader for a value just expired
				}
			}
		}
		idx = again
	}
	return retry
}

// sendReads sends a batch of reads to their primary at addr as one
// ReadBatch, under the earliest of their deadlines, and sets each read's
// answer, or its err: the call's error, or the one the primary answered
// for it. (A write's batch runs to the latest, as a write given up may
// still be applied; a read given up early is only done again, alone, so
// no reader waits past its own deadline for a later reader's batch.)
func (n *Node) sendReads(addr string, batch []*batchItem[batchedRead]) {
	deadline := earliestDeadline(batch)
	ctx, cancel := contextUntil(deadline)
	defer cancel()
	msg := &wire.ReadBatch{Reads: make([]wire.Read, len(batch))}
	for j, it := range batch {
		msg.Reads[j] = it.msg.read
	}
	n.metrics.readBatches.Add(1)
	n.metrics.readBatched.Add(uint64(len(batch)))
	sentAt := time.Now()
	answer, _, err := callFor[wire.ReadBatchResp](ctx, n, addr, msg)
	if err == nil && len(answer.Results) != len(batch) {
		err = fmt.Errorf("%w: %d answers to a batch of %d reads", wire.ErrBadRequest, len(answer.Results), len(batch))
	}
	if wire.NoAnswer(err) && (deadline.IsZero() || deadline.Sub(sentAt) >= n.cfg.CallTimeout/2) {
		// The primary may be a new process, of an older build that does
		// not serve batches: none until its next heartbeat says it does.
		// (A batch sent with little of its time left, after waiting its
		// turn, says nothing of that.)
		n.mu.Lock()
		for _, it := range batch {
			if st, ok := n.peerStats[it.msg.primary]; ok && st.reads {
				st.reads = false
				n.peerStats[it.msg.primary] = st
			}
		}
		n.mu.Unlock()
	}
	for j, it := range batch {
		if err != nil {
			it.err = err
			continue
		}
		r := &answer.Results[j]
		switch {
		case r.Code == "":
			it.msg.found, it.msg.entry = r.Found, r.Entry
		case r.Code == unavailableCode && strings.HasSuffix(r.Message, answerFullText):
			it.err = errAnswerFull
		default:
			it.err = wire.ErrorOf(r.Code, r.Message)
		}
	}
}

// readBatchAnswerBytes bounds the keys and values of one answer to a
// ReadBatch: once its answers hold more, the remaining reads are answered
// ErrUnavailable, and the sender reads those keys alone. One value of up
// to MaxValue is always answered, so the answer fits a peer frame, and a
// batch asking for one large key many times costs this much, not a copy
// of the value per read.
const readBatchAnswerBytes = 1 << 20

// onReadBatch serves a batch of reads as primary, each as onRead serves a
// plain Read, its key checked as the door checks a Read's: one refused
// read does not refuse the others; reads past readBatchAnswerBytes of
// answers are refused. On a connection's reader (inline) it
// declines the whole batch (transport.ErrWouldBlock) if any read would
// wait for a merge; reads change nothing, so the batch is served again in
// full off the reader, where the buckets that need a merge are merged
// first, all at once (mergeAhead).
func (n *Node) onReadBatch(ctx context.Context, from shard.NodeID, term uint64, m *wire.ReadBatch) (wire.Message, error) {
	if !transport.Inline(ctx) {
		// Every merge the batch waits for ends by one deadline: past it the
		// sender has stopped waiting, and a read whose bucket is still
		// unmerged answers ErrUnavailable.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.CallTimeout)
		defer cancel()
		n.mergeAhead(ctx, from, term, m.Reads)
	}
	results := make([]wire.ReadResult, len(m.Reads))
	size := 0 // of the keys and values answered so far
	for i := range m.Reads {
		r := &m.Reads[i]
		if size > readBatchAnswerBytes {
			results[i] = wire.ReadResult{Code: unavailableCode, Message: errAnswerFull.Error()}
			continue
		}
		err := n.checkKey(r.Key)
		if err == nil && shard.BucketOf(r.Key, n.cfg.Buckets) != r.Bucket {
			err = fmt.Errorf("%w: key not in bucket %d", wire.ErrBadRequest, r.Bucket)
		}
		var e store.Entry
		var found bool
		if err == nil {
			e, found, err = n.readPrimary(ctx, from, term, r.Bucket, r.Since, r.Key, false)
		}
		switch {
		case errors.Is(err, transport.ErrWouldBlock):
			return nil, err
		case err != nil:
			results[i] = wire.ReadResult{Code: wire.CodeOf(err), Message: err.Error()}
		default:
			results[i] = wire.ReadResult{Found: found, Entry: e}
			size += len(e.Key) + len(e.Value) + len(e.ContentType)
		}
	}
	return &wire.ReadBatchResp{Results: results}, nil
}

// mergesAtOnce bounds the buckets mergeAhead merges at the same time.
const mergesAtOnce = 8

// mergeAhead merges, all at once (up to mergesAtOnce at a time), the
// buckets of reads this node would serve as primary (readPrimary's
// checks) that are not merged under the current authority yet, as happens
// to every bucket for a while after a new term: served in order, each
// read of such a bucket waited for its merge before the next read's
// began, and a batch of reads of many buckets took their sum, or ran out
// of time and was read again key by key. A merge that fails is tried
// again by the read, which reports it, within the same deadline (ctx's).
func (n *Node) mergeAhead(ctx context.Context, from shard.NodeID, term uint64, reads []wire.Read) {
	now := time.Now()
	var buckets []int
	var taken map[int]bool // buckets already in buckets
	n.mu.Lock()
	leaderAsks := from != 0 && from == n.el.Leader() && term == n.el.Term()
	if n.state != nil && (leaderAsks || n.el.CanServeReads(now)) {
		auth := n.authorityLocked()
		for i := range reads {
			b := reads[i].Bucket
			// Merged already first: the usual case, and the cheapest check.
			if b < 0 || b >= n.cfg.Buckets || n.synced[b] == (syncKey{auth.term, reads[i].Since, auth.leaseGen}) ||
				taken[b] || !n.assignedLocked(b) || !n.held[b] ||
				n.state.Table.Primary(b) != n.cfg.ID || n.state.Table.Since[b] != reads[i].Since {
				continue
			}
			if taken == nil {
				taken = map[int]bool{}
			}
			taken[b] = true
			buckets = append(buckets, b)
		}
	}
	n.mu.Unlock()
	if len(buckets) < 2 {
		return // one merge waits as long here as in the read
	}
	g := &boundedGroup{limit: mergesAtOnce}
	for _, b := range buckets {
		g.Go(func() { _ = n.ensureSynced(ctx, b, false) })
	}
	g.Wait()
}
