#!/usr/bin/env bash
# t_chattr: chattr +i / +a (FS_IOC_SETFLAGS through the FUSE ioctl) on
# files and directories as root: lsattr shows them, every forbidden
# operation fails with EPERM and changes nothing, the allowed ones work,
# only root may set or clear them, and they survive a remount.  With and
# without the writeback cache.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
for tool in chattr lsattr setfattr setpriv python3; do
  command -v "$tool" >/dev/null || fail "missing tool: $tool (packages e2fsprogs, attr, util-linux)"
done

# denied WHAT CMD...: CMD must fail, saying "Operation not permitted".
denied() {
  local what=$1 out rc=0
  shift
  out=$(lib_t 30 "$@" 2>&1) || rc=$?
  [ "$rc" -ne 0 ] || fail "$what: allowed"
  [[ $out == *"Operation not permitted"* ]] || fail "$what: not EPERM: $out"
}

# The flag letters lsattr shows for $1.
flags() {
  lsattr -d "$1" | awk '{ print $1 }' | tr -d -
}

# op.py OP PATH: one system call from Python (exit 0, or the errno name).
cat >"$T_DIR/op.py" <<'EOF'
import errno, os, sys
op, p = sys.argv[1], sys.argv[2]
try:
    if op == "open-append":
        os.close(os.open(p, os.O_WRONLY | os.O_APPEND))
    elif op == "open-rdonly":
        os.close(os.open(p, os.O_RDONLY))
    elif op == "utime":
        os.utime(p, (1000, 1000))
    elif op == "fallocate-punch":
        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.fallocate(fd, 3, ctypes.c_long(0), ctypes.c_long(2)) != 0:
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        finally:
            os.close(fd)
except OSError as e:
    print(os.strerror(e.errno))
    sys.exit(1)
EOF


run_checks() {
  local mode=$1 f=$MNT/$1.file a=$MNT/$1.log d=$MNT/$1.dir ad=$MNT/$1.adir
  echo "immutable" >"$f"
  mkdir "$d" "$ad"
  echo inside >"$d/in"
  echo inside >"$ad/in"
  printf 'one\n' >"$a"
  setfattr -n user.x -v 1 "$f"

  check "chattr +i on a file ($mode): lsattr shows it; writes and changes fail with EPERM"
  chattr +i "$f" || fail "chattr +i"
  [ "$(flags "$f")" = i ] || fail "lsattr after +i: $(lsattr "$f")"
  denied "write (>)" bash -c "echo x >'$f'"
  denied "append (>>)" bash -c "echo x >>'$f'"
  denied "truncate" truncate -s 0 "$f"
  denied "chmod" chmod 600 "$f"
  denied "chown" chown 65534 "$f"
  denied "touch" touch "$f"
  denied "utimes" python3 "$T_DIR/op.py" utime "$f"
  denied "rename" mv "$f" "$f.moved"
  denied "unlink" rm -f "$f"
  denied "link" ln "$f" "$f.link"
  denied "setxattr" setfattr -n user.y -v 2 "$f"
  denied "removexattr" setfattr -x user.x "$f"
  denied "rename over it" bash -c "echo n >'$f.new' && mv '$f.new' '$f'"
  rm -f "$f.new"
  [ "$(cat "$f")" = immutable ] || fail "immutable file changed: $(cat "$f")"
  python3 "$T_DIR/op.py" open-rdonly "$f" || fail "read-only open of an immutable file"
  [ "$(stat -c %a "$f")" = 644 ] || fail "mode of the immutable file changed"

  check "chattr +i on a directory ($mode): no entry added or removed"
  chattr +i "$d" || fail "chattr +i dir"
  [ "$(flags "$d")" = i ] || fail "lsattr -d after +i: $(lsattr -d "$d")"
  denied "create in it" touch "$d/new"
  denied "mkdir in it" mkdir "$d/sub"
  denied "symlink in it" ln -s x "$d/sym"
  denied "unlink in it" rm -f "$d/in"
  denied "rename out of it" mv "$d/in" "$MNT/out"
  denied "rename into it" bash -c "touch '$MNT/$mode.x' && mv '$MNT/$mode.x' '$d/x'"
  rm -f "$MNT/$mode.x"
  echo changed >"$d/in" || fail "an entry of an immutable dir is writable itself"

  check "chattr +a ($mode): appends only; no truncate, unlink, rename, chmod"
  chattr +a "$a" || fail "chattr +a"
  [ "$(flags "$a")" = a ] || fail "lsattr after +a: $(lsattr "$a")"
  echo two >>"$a" || fail "append to an append-only file"
  python3 "$T_DIR/op.py" open-append "$a" || fail "O_APPEND open of an append-only file"
  denied "overwrite (>)" bash -c "echo x >'$a'"
  denied "O_RDWR open" bash -c "exec 3<>'$a'"
  denied "truncate" truncate -s 0 "$a"
  denied "chmod" chmod 600 "$a"
  denied "unlink" rm -f "$a"
  denied "rename" mv "$a" "$a.moved"
  denied "link" ln "$a" "$a.link"
  denied "punch a hole" python3 "$T_DIR/op.py" fallocate-punch "$a"
  [ "$(cat "$a")" = "one
two" ] || fail "append-only file: $(cat "$a")"
  chattr +a "$ad" || fail "chattr +a dir"
  touch "$ad/added" || fail "create in an append-only dir"
  denied "unlink in an append-only dir" rm -f "$ad/in"
  denied "rename in an append-only dir" mv "$ad/in" "$ad/in2"

  check "only root may set or clear the flags ($mode)"
  local u=$MNT/$mode.users
  chmod 755 "$T_DIR" "$MNT"       # mktemp -d made T_DIR 0700
  echo user >"$u"
  chown 65534:65534 "$u"
  denied "chattr +i as its owner" setpriv --reuid=65534 --regid=65534 --clear-groups chattr +i "$u"
  denied "chattr +a as its owner" setpriv --reuid=65534 --regid=65534 --clear-groups chattr +a "$u"
  chattr +i "$u" || fail "chattr +i as root"
  denied "chattr -i as its owner" setpriv --reuid=65534 --regid=65534 --clear-groups chattr -i "$u"
  [ "$(flags "$u")" = i ] || fail "flags of $u: $(lsattr "$u")"
}

# Clears every flag, then removes what run_checks made.
clear_all() {
  local mode=$1
  chattr -i "$MNT/$mode.file" "$MNT/$mode.dir" "$MNT/$mode.users" ||
    fail "chattr -i"
  chattr -a "$MNT/$mode.log" "$MNT/$mode.adir" || fail "chattr -a"
  [ -z "$(flags "$MNT/$mode.file")$(flags "$MNT/$mode.log")" ] || fail "flags after clearing"
  echo writable >"$MNT/$mode.file" || fail "write after chattr -i"
  : >"$MNT/$mode.log" || fail "truncate after chattr -a"
  rm -r "$MNT/$mode".* || fail "removal after clearing the flags"
}

lib_mount -o allow_other
run_checks writeback

check "with the writeback cache, a descriptor opened before chattr +i gets nothing into the store"
# The write(2) lands in the kernel's page cache (the kernel does not know
# the flag); its writeback is refused, which fsync reports.
echo before >"$MNT/held.wb"
exec 3>>"$MNT/held.wb"
chattr +i "$MNT/held.wb"
echo through >&3 || true
out=$(python3 -c 'import os; os.fsync(3)' 2>&1) && fail "fsync of a refused writeback succeeded"
[[ $out == *"Operation not permitted"* ]] || fail "fsync after the refused writeback: $out"
exec 3>&-
lib_unmount
lib_mount -o allow_other,no_writeback
run_checks direct

check "a descriptor opened before chattr +i cannot write through (no writeback cache)"
echo before >"$MNT/held"
exec 3>>"$MNT/held"
chattr +i "$MNT/held"
rc=0
out=$(echo through >&3 2>&1) || rc=$?
exec 3>&-
[ "$rc" -ne 0 ] || fail "write through a descriptor opened before +i"
[ "$(cat "$MNT/held")" = before ] || fail "held file changed: $(cat "$MNT/held")"
lib_unmount

check "the flags survive a remount"
lib_mount -o allow_other
for m in writeback direct; do
  [ "$(flags "$MNT/$m.file")" = i ] && [ "$(flags "$MNT/$m.dir")" = i ] &&
    [ "$(flags "$MNT/$m.log")" = a ] && [ "$(flags "$MNT/$m.adir")" = a ] ||
    fail "flags after remount ($m): $(lsattr -d "$MNT"/$m.*)"
  [ "$(cat "$MNT/$m.log")" = "one
two" ] || fail "appended data after remount ($m): $(cat "$MNT/$m.log")"
  [ "$(cat "$MNT/$m.file")" = immutable ] || fail "immutable file after remount ($m)"
  denied "write after remount ($m)" bash -c "echo x >>'$MNT/$m.file'"
  denied "unlink after remount ($m)" rm -f "$MNT/$m.log"
  clear_all "$m"
done
[ "$(cat "$MNT/held.wb")" = before ] || fail "refused writeback reached the store: $(cat "$MNT/held.wb")"
chattr -i "$MNT/held" "$MNT/held.wb" && rm "$MNT/held" "$MNT/held.wb" || fail "clearing held"
lib_unmount
lib_pass
