#!/usr/bin/env bash
# t_tmpfile: open(dir, O_TMPFILE) makes an unnamed file that can be
# written, read and then named with linkat (through /proc/self/fd with
# AT_SYMLINK_FOLLOW, or the descriptor itself with AT_EMPTY_PATH); one
# never named disappears at close and leaves nothing in the store; one
# opened with O_EXCL cannot be named; one held open when the daemon dies
# is reclaimed at the next mount.  With and without the writeback cache,
# and with -o sync (where FUSE_TMPFILE goes to a worker thread).
. "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v python3 >/dev/null || fail "missing tool: python3"

# tmpfile.py MODE DIR [ARGS]: the O_TMPFILE steps (Python has no linkat
# flags, so libc's is called through ctypes).
cat >"$T_DIR/tmpfile.py" <<'EOF'
import ctypes, errno, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, AT_SYMLINK_FOLLOW, AT_EMPTY_PATH = -100, 0x400, 0x1000

def linkat(fd, src, dst, flags):
    if libc.linkat(fd, src.encode(), AT_FDCWD, dst.encode(), flags) == 0:
        return 0
    return ctypes.get_errno()

def fail(msg):
    sys.exit("tmpfile.py: " + msg)

mode, d = sys.argv[1], sys.argv[2]
if mode == "link":
    data = os.urandom(3 << 20)
    fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o640)
    st = os.fstat(fd)
    if st.st_nlink != 0 or oct(st.st_mode) != oct(0o100640 & ~0o022):
        fail("new tmpfile: nlink %d mode %o" % (st.st_nlink, st.st_mode))
    if os.listdir(d) != []:
        fail("tmpfile visible in its directory: %s" % os.listdir(d))
    os.write(fd, data)
    if os.pread(fd, 16, 1000) != data[1000:1016]:
        fail("read back before linking")
    e = linkat(AT_FDCWD, "/proc/self/fd/%d" % fd, d + "/by-proc", AT_SYMLINK_FOLLOW)
    if e:
        fail("linkat via /proc: %s" % os.strerror(e))
    if os.fstat(fd).st_nlink != 1:
        fail("nlink after linkat: %d" % os.fstat(fd).st_nlink)
    os.write(fd, b"tail")                   # still writable once named
    os.close(fd)
    with open(d + "/by-proc", "rb") as f:
        if f.read() != data + b"tail":
            fail("linked file's contents")
    fd = os.open(d, os.O_TMPFILE | os.O_WRONLY, 0o600)
    os.write(fd, b"empty-path")
    e = linkat(fd, "", d + "/by-fd", AT_EMPTY_PATH)
    if e:
        fail("linkat AT_EMPTY_PATH: %s" % os.strerror(e))
    os.close(fd)
    fd = os.open(d, os.O_TMPFILE | os.O_RDWR | os.O_EXCL, 0o600)
    os.write(fd, b"x")
    e = linkat(AT_FDCWD, "/proc/self/fd/%d" % fd, d + "/excl", AT_SYMLINK_FOLLOW)
    if e != errno.ENOENT:
        fail("O_EXCL tmpfile linked (or wrong error): %s" % os.strerror(e))
    os.close(fd)
elif mode == "unnamed":
    # 8 MiB written, never named, closed: gone.
    fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o600)
    for _ in range(8):
        os.write(fd, os.urandom(1 << 20))
    os.fsync(fd)
    if os.fstat(fd).st_size != 8 << 20:
        fail("size of the unnamed file")
    os.close(fd)
elif mode == "crash":
    # Held open with data made durable, then the daemon dies.
    fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o600)
    os.write(fd, os.urandom(2 << 20))
    os.fsync(fd)
    os.kill(int(sys.argv[3]), signal.SIGKILL)
EOF

# Inodes in use (statfs f_files - f_ffree).
inodes_used() {
  echo $(($(stat -f -c '%c - %d' "$MNT")))
}

# The store's summary line from lsmfs fsck (inodes, data blocks, ...).
summary() {
  lib_t 60 "$LSMFS" fsck "$STORE" 2>/dev/null | grep -E '^[^ ]+: [0-9]+ inodes' |
    sed 's/; [0-9]* keys read//'
}

for opts in "" "-o no_writeback" "-o sync"; do
  check "O_TMPFILE written and linked ${opts:-(writeback cache)}"
  rm -rf "$STORE"
  # shellcheck disable=SC2086
  lib_mount $opts
  mkdir "$MNT/d"
  lib_t 60 python3 "$T_DIR/tmpfile.py" link "$MNT/d" || fail "tmpfile link steps"
  [ "$(cat "$MNT/d/by-fd")" = empty-path ] || fail "AT_EMPTY_PATH file contents"
  [ ! -e "$MNT/d/excl" ] || fail "O_EXCL tmpfile got a name"
  ls "$MNT/d" >"$T_DIR/ls"
  [ "$(tr '\n' ' ' <"$T_DIR/ls")" = "by-fd by-proc " ] ||
    fail "directory after linking: $(cat "$T_DIR/ls")"
  sha=$(sha256sum <"$MNT/d/by-proc")
  lib_unmount
  before=$(summary)

  check "an unnamed O_TMPFILE is gone after close and leaves no data ${opts:-(writeback cache)}"
  # log_level=info: the orphan reclaim lines checked below are info lines
  # shellcheck disable=SC2086
  lib_mount -o log_level=info $opts
  [ "$(sha256sum <"$MNT/d/by-proc")" = "$sha" ] || fail "linked tmpfile changed across remount"
  used=$(inodes_used)
  lib_t 60 python3 "$T_DIR/tmpfile.py" unnamed "$MNT/d" || fail "unnamed tmpfile steps"
  [ "$(inodes_used)" = "$used" ] ||
    fail "inodes in use after closing an unnamed tmpfile: $(inodes_used) (was $used)"
  lib_unmount
  after=$(summary)
  [ "$after" = "$before" ] || fail "store after an unnamed tmpfile: $after (was $before)"
  grep -q orphan "$LIB_FG_LOG" && fail "the unnamed tmpfile was left to close: $(cat "$LIB_FG_LOG")"
done

check "an O_TMPFILE open when the daemon dies is reclaimed at the next mount"
lib_mount -o auto_unmount
lib_t 60 python3 "$T_DIR/tmpfile.py" crash "$MNT/d" "$DAEMON_PID" ||
  fail "crash steps"
wait "$LIB_FG_PID" 2>/dev/null || true
DAEMON_PID=
LIB_FG_PID=
lib_wait_unmounted "$MNT"
lib_mount -o log_level=info
grep -q "reclaimed orphan" "$LIB_FG_LOG" ||
  fail "no orphan reclaimed at the mount after the crash: $(cat "$LIB_FG_LOG")"
[ "$(tr '\n' ' ' < <(ls "$MNT/d"))" = "by-fd by-proc " ] || fail "directory after the crash"
lib_unmount
[ "$(summary)" = "$before" ] || fail "store after the crash: $(summary) (was $before)"

lib_pass
