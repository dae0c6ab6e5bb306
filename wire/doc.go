// Package wire is jumpkv's peer protocol: the frames nodes exchange
// (frame.go), the message types they carry, numbered append-only
// (messages.go, fastmessages.go), the codec of the message bodies
// (message.go) and the error codes that survive a hop (errors.go).
//
// A body is a msgpack map keyed by the fields' msgpack tags. The messages
// of the write and read paths and of the change stream (fastmessages.go)
// are encoded by code that github.com/tinylib/msgp generates from their
// types; the others by reflection (vmihailenco/msgpack). The data inside
// them (versions, entries) are package kv's types, which are also what
// the durable log will store; kv's documentation gives the rules by which
// fields may be added, and they hold for the messages here too: a tag is
// never reused, a new field is optional (omitempty, zero meaning the old
// behaviour), and a message that needs a new field to be understood is a
// new message type.
//
// The tests fill every field of every message by reflection and check
// that it survives an encode and decode, and that the generated code is
// what its generator makes of the types today, so a field cannot be added
// and silently dropped on the wire.
package wire
