# A session of Python's ftplib against a jumpkv FTP server: every command
# the SPEC lists, with checks. Usage: session.py HOST PORT USER PASSWORD
import ftplib, hashlib, io, os, sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
tls = len(sys.argv) > 5 and sys.argv[5] == "tls"
if tls:
    import ssl
    ftp = ftplib.FTP_TLS(context=ssl._create_unverified_context())
else:
    ftp = ftplib.FTP()
ftp.connect(host, port, timeout=30)
ftp.login(user, password)  # FTP_TLS sends AUTH TLS first
if tls:
    ftp.prot_p()
    assert "AUTH TLS" in ftp.sendcmd("FEAT")
feat = ftp.sendcmd("FEAT")
for ext in ("EPSV", "MLST", "SIZE", "REST STREAM", "UTF8"):
    assert ext in feat, (ext, feat)
assert ftp.sendcmd("OPTS UTF8 ON").startswith("200")
assert ftp.pwd() == "/"
ftp.mkd("docs")
ftp.cwd("docs")
assert ftp.pwd() == "/docs", ftp.pwd()
data = os.urandom(3 * 1024 * 1024 + 17)
ftp.storbinary("STOR big.bin", io.BytesIO(data))
assert ftp.size("big.bin") == len(data)
got = io.BytesIO()
ftp.retrbinary("RETR big.bin", got.write)
assert hashlib.sha256(got.getvalue()).digest() == hashlib.sha256(data).digest()
# REST: resume a download in the middle.
got = io.BytesIO()
ftp.retrbinary("RETR big.bin", got.write, rest=1000000)
assert got.getvalue() == data[1000000:]
# APPE.
ftp.storbinary("APPE big.bin", io.BytesIO(b"tail"))
assert ftp.size("big.bin") == len(data) + 4
ftp.storbinary("STOR empty", io.BytesIO(b""))
assert ftp.size("empty") == 0
names = ftp.nlst()
assert sorted(names) == ["big.bin", "empty"], names
entries = dict(ftp.mlsd())
assert entries["big.bin"]["type"] == "file" and int(entries["big.bin"]["size"]) == len(data) + 4, entries
lines = []
ftp.retrlines("LIST", lines.append)
assert len(lines) == 2 and lines[0].startswith("-rw") and str(len(data) + 4) in lines[0], lines
mlst = ftp.sendcmd("MLST big.bin")
assert "size=" + str(len(data) + 4) in mlst.lower(), mlst
assert ftp.sendcmd("MDTM big.bin").startswith("213 ")
ftp.rename("big.bin", "moved.bin")
try:
    ftp.size("big.bin")
    raise AssertionError("the renamed file is still there")
except ftplib.error_perm:
    pass
assert ftp.size("moved.bin") == len(data) + 4
ftp.cwd("..")
assert ftp.pwd() == "/"
ftp.sendcmd("CDUP")
dirs = dict(ftp.mlsd())
assert dirs["docs"]["type"] == "dir", dirs
try:
    ftp.rmd("docs")
    raise AssertionError("removed a folder that is not empty")
except ftplib.error_perm:
    pass
ftp.delete("docs/moved.bin")
ftp.delete("docs/empty")
ftp.rmd("docs")
assert ftp.nlst() == [], ftp.nlst()
# EPSV too (ftplib uses PASV for IPv4 by default).
ftp.af = 0
ftp.storbinary("STOR e.txt", io.BytesIO(b"epsv"))
ftp.sendcmd("EPSV")
ftp.quit()
print("ok")
