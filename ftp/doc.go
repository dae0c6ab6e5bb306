// Package ftp serves jumpkv's key space as a file tree over FTP (and FTPS
// with AUTH TLS): a file /reports/q1.pdf is the key reports/q1.pdf, a
// folder is a key prefix, and every node serves the same tree through the
// file layer (package files).
//
// The control connection is goftp.io/server/v2's: its command loop, login
// and the simple commands (PWD, CWD, CDUP, MDTM, MLST, RNFR, TYPE, OPTS,
// QUIT...). Everything that touches a data connection, and every command
// whose stock version buffers or trusts too much, is replaced here
// (commands.go): data connections are this package's (data.go), so that a
// passive port range is shared and bounded, a data connection is accepted
// only from the client's own address, PORT/EPRT to another address is
// refused (no FTP bounce), transfers stream with deadlines, and listings
// stream rather than collect a folder in memory. The listener (conn.go)
// bounds the connections, ends idle ones, caps a command line's length
// and does the TLS upgrade of AUTH TLS itself.
package ftp
