package node

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/jumpkv/jumpkv/shard"
	"github.com/jumpkv/jumpkv/transport"
	"github.com/jumpkv/jumpkv/wal"
	"github.com/jumpkv/jumpkv/wire"
)

// Quick reports the requests ServePeer answers without blocking: the
// transport serves them on the connection's reader (transport.QuickHandler).
// A replica's writes, the leader's reads and the change stream are most of
// the peer traffic. A read of a bucket not yet merged under the current
// authority would wait for the merge: it declines (transport.ErrWouldBlock).
func (n *Node) Quick(msg wire.Message) bool {
	switch m := msg.(type) {
	case *wire.Replicate:
		// A durable write under fsync always waits for the disk. Under
		// everysec or no it is only written to the file, and the reader
		// writes it itself when it can do so at once (persist.TryAppend);
		// otherwise it declines.
		return n.persist == nil || n.cfg.Fsync != wal.FsyncAlways
	case *wire.ReplicateBatch:
		// As a Replicate: a batch is logged in one turn, inline when the
		// log can take it at once (applyBatchDurable).
		return n.persist == nil || n.cfg.Fsync != wal.FsyncAlways
	case *wire.Events:
		return true
	case *wire.Read:
		return !m.ViaLeader // a read via the leader may ask the primary
	case *wire.ReadBatch:
		return true // plain reads of a primary, as a Read
	}
	return false
}

// ServePeer answers a request from another node. It is the transport's
// Handler: it may block, except under a transport.Inline context (a quick
// request served on its connection's reader), where it returns
// transport.ErrWouldBlock, having changed nothing, instead of blocking.
func (n *Node) ServePeer(ctx context.Context, req transport.Envelope) (resp wire.Message, err error) {
	defer n.recoverPeer(req, &err)
	if err := n.admit(req.From, req.Term, req.Msg, time.Now()); err != nil {
		n.refused(req.From, req.Msg, err)
		return nil, err
	}
	from := shard.NodeID(req.From)
	n.observeTerm(req.Term)
	switch m := req.Msg.(type) {
	case *wire.Heartbeat:
		return n.onHeartbeat(from, req.Term, m), nil
	case *wire.Hello:
		return n.onHello(m)
	case *wire.Vote:
		return n.onVote(from, m), nil
	case *wire.Resign:
		n.onResign(from, req.Term)
		return &wire.OK{}, nil
	case *wire.Preempt:
		return n.onPreempt(from)
	case *wire.Join:
		return n.onJoin(m)
	case *wire.Install:
		return n.onInstall(from, req.Term, &m.State)
	case *wire.GetState:
		return n.onGetState()
	case *wire.Fill:
		return n.onFill(ctx, from, req.Term, m)
	case *wire.Pull:
		return n.onPull(m)
	case *wire.Digests:
		return n.onDigests(m), nil
	case *wire.Replicate:
		return n.onReplicate(ctx, from, req.Term, m)
	case *wire.ReplicateBatch:
		return n.onReplicateBatch(ctx, from, req.Term, m)
	case *wire.Read:
		return n.onRead(ctx, from, req.Term, m)
	case *wire.ReadBatch:
		return n.onReadBatch(ctx, from, req.Term, m)
	case *wire.Forward:
		return n.onForward(ctx, m)
	case *wire.ForwardBatch:
		return n.onForwardBatch(ctx, m)
	case *wire.List:
		return n.onList(m)
	case *wire.ClusterReq:
		return n.onClusterReq()
	case *wire.Events:
		return n.onEvents(from, req.Term, m)
	case *wire.Leave:
		return n.onLeave(m)
	case *wire.Summary:
		return n.onSummary(from, m)
	case *wire.Fetch:
		return n.onFetch(from, m)
	case *wire.Repair:
		return n.onRepair(from, req.Term, m)
	case *wire.Purge:
		return n.onPurge(from, req.Term, m)
	}
	return nil, fmt.Errorf("%w: message type %d is not a request", wire.ErrBadRequest, req.Msg.WireType())
}

// recoverPeer turns a panic in a peer handler into an error for that
// request, logged with its stack: no peer message may take the process
// down. (The transports also close the connection it came on.)
func (n *Node) recoverPeer(req transport.Envelope, err *error) {
	r := recover()
	if r == nil {
		return
	}
	n.metrics.peerPanics.Inc()
	n.log.Error("peer handler panicked; request refused", "from", req.From, "type", fmt.Sprintf("%T", req.Msg),
		"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	*err = fmt.Errorf("%w: the handler failed", wire.ErrInternal)
}

// refused logs, rate-limited per sender and message type, a message the
// peer door refused.
func (n *Node) refused(from uint64, msg wire.Message, err error) {
	n.metrics.peerRefused.Inc()
	kind := fmt.Sprintf("%T", msg)
	n.rareLog.Log(fmt.Sprintf("door:%d:%s", from, kind), slog.LevelWarn, "refused a peer message (repeated at most once a minute per sender and type)",
		"from", from, "type", kind, "err", err)
}
