// Package files stores files larger than a value in the key space: a file
// is a manifest under its own key (Content-Type kv.FileType) naming chunks,
// which are ordinary replicated keys in the internal namespace
// (kv.IsInternal) that no client lists, reads or watches.
//
// The manifest is written last, so a file appears whole or not at all: a
// reader that finds it finds every chunk it names. Chunks are never
// rewritten: every upload writes new ones under its own random ID, so a
// reader of an older manifest is never handed a newer file's bytes.
//
// Every upload ID has a record (recordKey) that says which keys may name
// its chunks and whether an operation on them is in flight. A collector,
// run by the leader, removes the chunks no manifest names (an aborted or
// overwritten upload, the tail an append copied away) once they have been
// unnamed for a grace period, so that a download that began before an
// overwrite can finish. Deleting a file removes its chunks at once.
//
// Uploads and downloads stream: an upload holds at most Config.InFlight+1
// chunks in memory, a download two.
package files
