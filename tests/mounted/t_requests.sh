#!/usr/bin/env bash
# t_requests: the FUSE requests everyday operations cost (libfuse's debug
# log, tests/tools/fuse_requests.sh), against the counts the README's
# request table gives: a directory listing sends no OPENDIR/RELEASEDIR
# (opendir answers ENOSYS once, then the kernel opens directories itself)
# and still lists every entry; a create costs LOOKUP and CREATE; a stat
# after it one GETATTR at most; a symlink's target is read once; the
# second write(2) to a file sends no GETXATTR (HANDLE_KILLPRIV_V2: the
# kernel checks an inode for security.capability once).
. "$(dirname "$0")/lib.sh"
lib_init "$@"
top=$(cd "$(dirname "$0")/../.." && pwd)

check "fuse_requests.sh runs its operations on a fresh mount"
TMPDIR=$T_DIR lib_t 120 bash "$top/tests/tools/fuse_requests.sh" "$LSMFS" \
  >"$T_DIR/table" 2>"$T_DIR/err" || fail "fuse_requests.sh: $(tail -5 "$T_DIR/err")"
cat "$T_DIR/table"
[ ! -s "$T_DIR/err" ] || fail "an operation failed: $(cat "$T_DIR/err")"
reqs() {  # reqs OPERATION: the requests of that row
  awk -F' [|] ' -v op="$1" '$1 == "| " op { print $2 }' "$T_DIR/table" | sed 's/ |$//'
}

check "ls -l sends no OPENDIR or RELEASEDIR once a directory was opened"
ls_row=$(reqs "ls -l of 8 entries")
[ -n "$ls_row" ] || fail "no row for ls -l"
case "$ls_row" in
  *OPENDIR*) fail "ls -l still costs OPENDIR/RELEASEDIR: $ls_row" ;;
esac
case "$ls_row" in
  *READDIRPLUS*|*READDIR*) ;;
  *) fail "ls -l read no directory: $ls_row" ;;
esac

check "create and close: LOOKUP, CREATE; stat after it: one GETATTR at most"
[ "$(reqs "create an empty file and close it")" = "LOOKUP, CREATE [RELEASE]" ] ||
  fail "create: $(reqs "create an empty file and close it")"
case "$(reqs "stat it after the close")" in
  -|GETATTR) ;;
  *) fail "stat after create: $(reqs "stat it after the close")" ;;
esac

check "the second write(2) of an O_TRUNC overwrite asks for no security.capability"
# Without KILLPRIV_V2: one GETXATTR for the truncate and one per write(2).
# With it: none, or two when a LOOKUP refreshed the inode's attributes
# first (that clears the kernel's S_NOSEC mark).
row=$(reqs "overwrite a file, two write(2)s")
[ -n "$row" ] || fail "no row for the overwrite"
[ "$(echo "$row" | grep -o GETXATTR | wc -l)" -lt 3 ] || fail "overwrite: $row"

check "a symlink's target is read once, then cached by the kernel"
[ "$(reqs "readlink of a symlink")" = READLINK ] ||
  fail "readlink: $(reqs "readlink of a symlink")"
[ "$(reqs "readlink of it again")" = - ] ||
  fail "readlink again: $(reqs "readlink of it again")"

check "listings on a mount are complete without directory handles"
lib_mount
mkdir "$MNT/d"
for i in $(seq 300); do : >"$MNT/d/f$i"; done
[ "$(ls "$MNT/d" | wc -l)" -eq 300 ] || fail "ls listed $(ls "$MNT/d" | wc -l) of 300"
[ "$(find "$MNT" -type f | wc -l)" -eq 300 ] || fail "find saw the wrong count"
lib_t 30 rm -r "$MNT/d"
[ ! -e "$MNT/d" ] || fail "rm -r left the directory"
lib_unmount
lib_pass
