package node

import (
	"context"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/watch"
	"github.com/jumpkv/jumpkv/wire"
)

// Watching. The leader numbers every change it acknowledges and streams it
// to every node (events.go); each node's watch.Hub keeps a bounded history
// and fans the stream out to its local subscribers. The names below keep
// node's API as it was before the hub moved to package watch.

// WatchConfig sizes the watch machinery (see watch.Config).
type WatchConfig = watch.Config

// Subscription is one watcher's feed (see watch.Subscription).
type Subscription = watch.Subscription

// DefaultWatchConfig returns watch.DefaultConfig.
func DefaultWatchConfig() WatchConfig { return watch.DefaultConfig() }

// Watch errors: why a subscription ended, or could not start.
var (
	ErrWatcherTooSlow  = watch.ErrTooSlow
	ErrTooManyWatchers = watch.ErrTooManyWatchers
	ErrWatchStopped    = watch.ErrStopped
)

// hub is this node's watch.Hub under the lower-case names node's code
// calls (publish, run).
type hub struct{ *watch.Hub }

func newHub(cfg WatchConfig) *hub { return &hub{watch.NewHub(cfg)} }

func (h *hub) publish(evs ...wire.Event) { h.Publish(evs...) }

func (h *hub) run(ctx context.Context) { h.Run(ctx) }

// Watch subscribes to the changes under prefix, in version order per key.
// With since (the version of the last event the watcher saw), changes after
// it are replayed from this node's history first, or a Reset is sent when
// the history no longer holds it. Cancel with Unwatch.
func (n *Node) Watch(prefix string, since *store.Version) (*Subscription, error) {
	return n.hub.Subscribe(prefix, since)
}

// Unwatch ends a subscription.
func (n *Node) Unwatch(s *Subscription) { n.hub.Unsubscribe(s) }

// Watchers returns the number of live subscriptions and how many were ended
// for falling behind.
func (n *Node) Watchers() (live, dropped int64) { return n.hub.Stats() }
