package ftp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	server "goftp.io/server/v2"

	"github.com/jumpkv/jumpkv/files"
)

// command is one FTP command of this package.
type command struct {
	extend, param, auth bool
	run                 func(s *Server, sess *server.Session, st *session, param string)
}

func (c command) IsExtend() bool     { return c.extend }
func (c command) RequireParam() bool { return c.param }
func (c command) RequireAuth() bool  { return c.auth }

// commandOf binds a command to its server.
type commandOf struct {
	command
	s *Server
}

func (c commandOf) Execute(sess *server.Session, param string) {
	st := c.s.sessionOf(sess)
	if st.ended {
		return
	}
	c.run(c.s, sess, st, param)
}

// commands returns goftp's commands with this package's in place of those
// that touch data connections or buffer.
func (s *Server) commands() map[string]server.Command {
	cmds := map[string]server.Command{}
	for name, c := range server.DefaultCommands() {
		cmds[name] = c
	}
	own := map[string]command{
		"FEAT": {run: feat},
		"AUTH": {param: true, run: authTLS},
		"PBSZ": {param: true, run: pbsz},
		"PROT": {param: true, run: prot},
		"PASV": {auth: true, run: pasv},
		"EPSV": {extend: true, auth: true, run: epsv},
		"PORT": {param: true, auth: true, run: port},
		"EPRT": {extend: true, param: true, auth: true, run: eprt},
		"LPRT": {param: true, auth: true, run: notImplemented},
		"REST": {extend: true, param: true, auth: true, run: rest},
		"RETR": {param: true, auth: true, run: retr},
		"STOR": {param: true, auth: true, run: func(s *Server, sess *server.Session, st *session, p string) { stor(s, sess, st, p, false) }},
		"APPE": {param: true, auth: true, run: func(s *Server, sess *server.Session, st *session, p string) { stor(s, sess, st, p, true) }},
		"LIST": {auth: true, run: func(s *Server, sess *server.Session, st *session, p string) { list(s, sess, st, p, listLong) }},
		"NLST": {auth: true, run: func(s *Server, sess *server.Session, st *session, p string) { list(s, sess, st, p, listNames) }},
		"MLSD": {auth: true, run: func(s *Server, sess *server.Session, st *session, p string) { list(s, sess, st, p, listMachine) }},
		"STAT": {auth: true, run: stat},
		"SIZE": {extend: true, param: true, auth: true, run: size},
		"DELE": {param: true, auth: true, run: dele},
		"MKD":  {param: true, auth: true, run: mkd},
		"XMKD": {param: true, auth: true, run: mkd},
		"RMD":  {param: true, auth: true, run: rmd},
		"XRMD": {param: true, auth: true, run: rmd},
		"ABOR": {auth: true, run: func(_ *Server, sess *server.Session, _ *session, _ string) {
			sess.WriteMessage(226, "No transfer to abort")
		}},
	}
	for name, c := range own {
		cmds[name] = commandOf{command: c, s: s}
	}
	return cmds
}

func notImplemented(_ *Server, sess *server.Session, _ *session, _ string) {
	sess.WriteMessage(502, "Command not implemented: use EPRT or PORT")
}

// multiline writes a multi-line reply (goftp's writer has none that
// fits): straight to the control connection, whose buffer goftp flushes
// after every reply.
func multiline(st *session, code int, first string, lines []string, last string) {
	var b strings.Builder
	fmt.Fprintf(&b, "%d-%s\r\n", code, first)
	for _, l := range lines {
		b.WriteString(" " + oneLine(l) + "\r\n")
	}
	fmt.Fprintf(&b, "%d %s\r\n", code, last)
	_, _ = st.ctrl.Write([]byte(b.String()))
}

func fail(sess *server.Session, err error) {
	code, msg := reply(err)
	sess.WriteMessage(code, oneLine(msg))
}

// feat lists the extensions (goftp's list would omit AUTH TLS, which this
// package does itself).
func feat(s *Server, _ *server.Session, st *session, _ string) {
	lines := []string{"EPRT", "EPSV", "MDTM", "MLST type*;size*;modify*;", "REST STREAM", "SIZE", "UTF8"}
	if s.cfg.TLS != nil {
		lines = append(lines, "AUTH TLS", "PBSZ", "PROT")
	}
	multiline(st, 211, "Extensions supported:", lines, "End")
}

// authTLS upgrades the control connection (explicit FTPS, RFC 4217).
func authTLS(s *Server, sess *server.Session, st *session, param string) {
	switch p := strings.ToUpper(param); {
	case s.cfg.TLS == nil:
		sess.WriteMessage(502, "TLS is not configured on this node (--tls-cert)")
	case st.tls:
		sess.WriteMessage(503, "Already in TLS")
	case p != "TLS" && p != "TLS-C" && p != "SSL":
		sess.WriteMessage(504, "AUTH TLS only")
	default:
		sess.WriteMessage(234, "AUTH TLS successful")
		st.ctrl.startTLS(s.cfg.TLS)
		st.tls = true
	}
}

func pbsz(_ *Server, sess *server.Session, st *session, _ string) {
	if !st.tls {
		sess.WriteMessage(503, "PBSZ needs AUTH TLS first")
		return
	}
	sess.WriteMessage(200, "PBSZ=0")
}

func prot(_ *Server, sess *server.Session, st *session, param string) {
	switch p := strings.ToUpper(param); {
	case !st.tls:
		sess.WriteMessage(503, "PROT needs AUTH TLS first")
	case p == "P":
		st.prot = true
		sess.WriteMessage(200, "Protection level set to Private")
	case p == "C":
		st.prot = false
		sess.WriteMessage(200, "Protection level set to Clear")
	default:
		sess.WriteMessage(536, "Only C and P are supported")
	}
}

// passive opens a passive listener on the address the client reached and
// returns the host and port to announce.
func (s *Server) passive(st *session) (host string, port int, err error) {
	local, ok := st.ctrl.Conn.LocalAddr().(*net.TCPAddr)
	if !ok {
		return "", 0, errors.New("no local address")
	}
	listenOn := local.IP.String()
	if s.cfg.PublicHost != "" {
		listenOn = "" // the public address may be a NAT's: listen everywhere
	}
	ln, port, err := s.pool.listen(listenOn)
	if err != nil {
		return "", 0, err
	}
	st.setPassive(ln, port, s.pool)
	host = s.cfg.PublicHost
	if host == "" {
		host = local.IP.String()
	}
	return host, port, nil
}

func pasv(s *Server, sess *server.Session, st *session, _ string) {
	host, port, err := s.passive(st)
	if err != nil {
		sess.WriteMessage(425, "Cannot open a passive data connection: "+oneLine(err.Error()))
		return
	}
	ip := net.ParseIP(host)
	if ip == nil {
		if addrs, _ := net.LookupIP(host); len(addrs) > 0 {
			ip = addrs[0]
		}
	}
	ip4 := ip.To4()
	if ip4 == nil {
		st.closeData(s.pool)
		sess.WriteMessage(425, "PASV needs an IPv4 address: use EPSV")
		return
	}
	sess.WriteMessage(227, fmt.Sprintf("Entering Passive Mode (%d,%d,%d,%d,%d,%d)", ip4[0], ip4[1], ip4[2], ip4[3], port>>8, port&0xff))
}

func epsv(s *Server, sess *server.Session, st *session, param string) {
	if strings.EqualFold(param, "ALL") {
		sess.WriteMessage(200, "EPSV ALL ok")
		return
	}
	_, port, err := s.passive(st)
	if err != nil {
		sess.WriteMessage(425, "Cannot open a passive data connection: "+oneLine(err.Error()))
		return
	}
	sess.WriteMessage(229, fmt.Sprintf("Entering Extended Passive Mode (|||%d|)", port))
}

// active checks a PORT/EPRT address: only the client's own (no FTP
// bounce: the server would otherwise connect wherever it is told).
func (s *Server) active(sess *server.Session, st *session, ip net.IP, port int) {
	if ip == nil || port < 1 || port > 65535 {
		sess.WriteMessage(501, "Malformed address")
		return
	}
	if !ip.Equal(st.client) {
		sess.WriteMessage(504, fmt.Sprintf("Refused: data connections go only to your own address %s, not %s (no FTP bounce)", st.client, ip))
		return
	}
	st.setActive(net.JoinHostPort(ip.String(), strconv.Itoa(port)), s.pool)
	sess.WriteMessage(200, "PORT command successful")
}

func port(s *Server, sess *server.Session, st *session, param string) {
	parts := strings.Split(param, ",")
	if len(parts) != 6 {
		sess.WriteMessage(501, "PORT wants h1,h2,h3,h4,p1,p2")
		return
	}
	var n [6]int
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 0 || v > 255 {
			sess.WriteMessage(501, "PORT wants h1,h2,h3,h4,p1,p2 (0..255 each)")
			return
		}
		n[i] = v
	}
	s.active(sess, st, net.IPv4(byte(n[0]), byte(n[1]), byte(n[2]), byte(n[3])), n[4]<<8|n[5])
}

func eprt(s *Server, sess *server.Session, st *session, param string) {
	if len(param) < 2 {
		sess.WriteMessage(501, "EPRT wants |proto|addr|port|")
		return
	}
	parts := strings.Split(param, param[:1])
	if len(parts) != 5 || (parts[1] != "1" && parts[1] != "2") {
		sess.WriteMessage(522, "Network protocol not supported, use (1,2)")
		return
	}
	p, err := strconv.Atoi(parts[3])
	if err != nil {
		sess.WriteMessage(501, "EPRT: bad port")
		return
	}
	s.active(sess, st, net.ParseIP(parts[2]), p)
}

func rest(_ *Server, sess *server.Session, st *session, param string) {
	n, err := strconv.ParseInt(strings.TrimSpace(param), 10, 64)
	if err != nil || n < 0 {
		sess.WriteMessage(501, "REST wants a byte offset")
		return
	}
	st.rest = n
	sess.WriteMessage(350, fmt.Sprintf("Restarting at %d. Send RETR, STOR or APPE", n))
}

// takeRest returns and clears the REST offset.
func takeRest(st *session) int64 {
	n := st.rest
	st.rest = 0
	return n
}

// transferFailed answers a transfer that ended early: 426 if the data
// connection failed (the client went away or stalled), else the error's.
func transferFailed(sess *server.Session, err error, dataErr bool) {
	if dataErr {
		sess.WriteMessage(426, "Connection closed; transfer aborted: "+oneLine(err.Error()))
		return
	}
	fail(sess, err)
}

// errWriter records whether the destination of a copy failed.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

func retr(s *Server, sess *server.Session, st *session, param string) {
	off := takeRest(st)
	k, err := keyOf(sess, param)
	if err == nil {
		err = s.canFile(st, k, false)
	}
	if err != nil {
		fail(sess, err)
		return
	}
	f, err := s.fs.Open(s.ctx, k)
	if err != nil {
		fail(sess, err)
		return
	}
	defer f.Close()
	if off > f.Size {
		sess.WriteMessage(554, fmt.Sprintf("REST %d is past the end of the file (%d bytes)", off, f.Size))
		return
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		fail(sess, err)
		return
	}
	sess.WriteMessage(150, fmt.Sprintf("Opening BINARY mode data connection for %s (%d bytes)", path.Base("/"+k), f.Size-off))
	dc, err := st.openData(s.pool, s.cfg.TLS, s.cfg.DataTimeout)
	if err != nil {
		sess.WriteMessage(425, "Cannot open the data connection: "+oneLine(err.Error()))
		return
	}
	w := &errWriter{w: dc}
	n, err := f.WriteTo(w)
	st.doneData(dc)
	if err != nil {
		transferFailed(sess, err, w.err != nil)
		return
	}
	sess.WriteMessage(226, fmt.Sprintf("Transfer complete, %d bytes", n))
}

// errReader records whether the source of an upload failed.
type errReader struct {
	r   io.Reader
	err error
	n   int64
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

func stor(s *Server, sess *server.Session, st *session, param string, appendTo bool) {
	off := takeRest(st)
	k, err := keyOf(sess, param)
	if err == nil && k == "" {
		err = fmt.Errorf("%w: the root is a folder", files.ErrBadPath)
	}
	if err == nil {
		err = s.canFile(st, k, true)
	}
	if err != nil {
		fail(sess, err)
		return
	}
	if off > 0 {
		// A resumed upload appends: only at the file's current end.
		in, err := s.fs.Stat(s.ctx, k)
		if err != nil || in.Dir || in.Size != off {
			sess.WriteMessage(554, fmt.Sprintf("REST %d before STOR resumes an upload only at the file's end (%d bytes)", off, in.Size))
			return
		}
		appendTo = true
	}
	sess.WriteMessage(150, "Opening BINARY mode data connection for "+path.Base("/"+k))
	dc, err := st.openData(s.pool, s.cfg.TLS, s.cfg.DataTimeout)
	if err != nil {
		sess.WriteMessage(425, "Cannot open the data connection: "+oneLine(err.Error()))
		return
	}
	r := &errReader{r: dc}
	in, err := s.fs.Put(s.ctx, k, r, files.PutOptions{ContentType: typeByName(k), Append: appendTo})
	st.doneData(dc)
	if err != nil {
		transferFailed(sess, err, r.err != nil)
		return
	}
	sess.WriteMessage(226, fmt.Sprintf("Transfer complete, %d bytes received, the file is %d bytes", r.n, in.Size))
}

// typeByName guesses a file's Content-Type from its extension.
func typeByName(key string) string {
	if t := mime.TypeByExtension(path.Ext(key)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// listing formats of LIST, NLST and MLSD.
const (
	listLong = iota
	listNames
	listMachine
)

// listArg strips ls-style options (-a, -la) from a LIST argument.
func listArg(param string) string {
	for {
		param = strings.TrimLeft(param, " ")
		if !strings.HasPrefix(param, "-") {
			return param
		}
		i := strings.IndexByte(param, ' ')
		if i < 0 {
			return ""
		}
		param = param[i:]
	}
}

// list streams a folder listing (or one file's line) over the data
// connection: entries are written as the file layer reads them.
func list(s *Server, sess *server.Session, st *session, param string, format int) {
	takeRest(st)
	k, err := keyOf(sess, listArg(param))
	if err != nil {
		fail(sess, err)
		return
	}
	in, err := s.fs.Stat(s.ctx, k)
	within := ""
	if err == nil {
		if in.Dir {
			within, err = s.canDir(st, k)
		} else {
			err = s.canFile(st, k, false)
		}
	}
	if err != nil {
		fail(sess, err)
		return
	}
	if format == listMachine && !in.Dir {
		sess.WriteMessage(501, "MLSD lists folders: use MLST for a file")
		return
	}
	sess.WriteMessage(150, "Opening data connection for the listing")
	dc, err := st.openData(s.pool, s.cfg.TLS, s.cfg.DataTimeout)
	if err != nil {
		sess.WriteMessage(425, "Cannot open the data connection: "+oneLine(err.Error()))
		return
	}
	ew := &errWriter{w: dc}
	bw := bufio.NewWriterSize(ew, 32<<10)
	line := func(in files.Info) error {
		_, err := bw.WriteString(formatEntry(in, format))
		return err
	}
	if in.Dir {
		err = s.fs.ReadDir(s.ctx, k, within, line)
	} else {
		err = line(in)
	}
	if err == nil {
		err = bw.Flush()
	}
	st.doneData(dc)
	if err != nil {
		transferFailed(sess, err, ew.err != nil)
		return
	}
	sess.WriteMessage(226, "Listing sent")
}

// formatEntry is one line of a listing.
func formatEntry(in files.Info, format int) string {
	fi := fileInfo{in}
	name := fi.Name()
	switch format {
	case listNames:
		return name + "\r\n"
	case listMachine:
		t := "file"
		if in.Dir {
			t = "dir"
		}
		return fmt.Sprintf("type=%s;size=%d;modify=%s; %s\r\n", t, in.Size, fi.ModTime().Format("20060102150405"), name)
	}
	mode := "-rw-r--r--"
	if in.Dir {
		mode = "drwxr-xr-x"
	}
	mt := fi.ModTime()
	when := mt.Format("Jan _2 15:04")
	if time.Since(mt) > 180*24*time.Hour {
		when = mt.Format("Jan _2  2006")
	}
	return fmt.Sprintf("%s 1 jumpkv jumpkv %12d %s %s\r\n", mode, in.Size, when, name)
}

// stat answers STAT: the session's status, or one entry's listing on the
// control connection (a folder is not listed here: use LIST).
func stat(s *Server, sess *server.Session, st *session, param string) {
	if param == "" {
		user := "anonymous"
		if st.user != nil {
			user = st.user.Name
		}
		multiline(st, 211, "jumpkv FTP status", []string{"Logged in as " + user, fmt.Sprintf("TLS: %v", st.tls)}, "End")
		return
	}
	k, err := keyOf(sess, listArg(param))
	if err != nil {
		fail(sess, err)
		return
	}
	in, err := s.fs.Stat(s.ctx, k)
	if err == nil {
		if in.Dir {
			_, err = s.canDir(st, k)
		} else {
			err = s.canFile(st, k, false)
		}
	}
	if err != nil {
		fail(sess, err)
		return
	}
	multiline(st, 213, "Status of /"+k, []string{strings.TrimSuffix(formatEntry(in, listLong), "\r\n")}, "End")
}

func size(s *Server, sess *server.Session, st *session, param string) {
	k, err := keyOf(sess, param)
	if err != nil {
		fail(sess, err)
		return
	}
	in, err := s.fs.Stat(s.ctx, k)
	if err == nil && in.Dir {
		err = fmt.Errorf("%w: /%s", files.ErrIsDir, k)
	}
	if err == nil {
		err = s.canFile(st, k, false)
	}
	if err != nil {
		fail(sess, err)
		return
	}
	sess.WriteMessage(213, strconv.FormatInt(in.Size, 10))
}

func dele(s *Server, sess *server.Session, st *session, param string) {
	k, err := keyOf(sess, param)
	if err == nil {
		err = s.canFile(st, k, true)
	}
	if err == nil {
		_, err = s.fs.Delete(s.ctx, k, nil)
	}
	if err != nil {
		fail(sess, err)
		return
	}
	sess.WriteMessage(250, "File deleted")
}

func mkd(s *Server, sess *server.Session, st *session, param string) {
	k, err := keyOf(sess, param)
	if err == nil {
		err = s.canFile(st, k+"/", true)
	}
	if err == nil {
		err = s.fs.MakeDir(s.ctx, k)
	}
	if err != nil {
		fail(sess, err)
		return
	}
	sess.WriteMessage(257, `"/`+strings.ReplaceAll(k, `"`, `""`)+`" created`)
}

func rmd(s *Server, sess *server.Session, st *session, param string) {
	k, err := keyOf(sess, param)
	if err == nil {
		err = s.canFile(st, k+"/", true)
	}
	if err == nil {
		err = s.fs.RemoveDir(s.ctx, k)
	}
	if err != nil {
		fail(sess, err)
		return
	}
	sess.WriteMessage(250, "Folder removed")
}
