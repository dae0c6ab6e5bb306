package resp

import (
	"io"
	"strings"
	"testing"
)

// TestSubscribedGetsReadNothingAhead: in RESP2 subscribed mode every
// GET of a pipeline answers the "only (P|S)SUBSCRIBE ..." error, as a GET
// alone does, so nothing should be read for them; runGets reads the whole
// run's keys ahead anyway (it checks authentication and ACLs, not the
// subscribed mode), costing the node reads whose answers are thrown away.
func TestSubscribedGetsReadNothingAhead(t *testing.T) {
	f := newFake(t)
	_, addr := startServer(t, f, Config{})
	nc, rd := rawConn(t, addr)
	exchange := func(in, want string) {
		t.Helper()
		if _, err := nc.Write([]byte(in)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(rd, got); err != nil || string(got) != want {
			t.Fatalf("%q: got %q (%v), want %q", in, got, err, want)
		}
	}
	exchange("SUBSCRIBE ch\r\n", "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
	refused := "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
	exchange(strings.Repeat("GET k\r\n", 8), strings.Repeat(refused, 8))
	f.mu.Lock()
	n := f.getManys
	f.mu.Unlock()
	if n != 0 {
		t.Errorf("%d GetMany calls for GETs refused in subscribed mode, want 0", n)
	}
}
