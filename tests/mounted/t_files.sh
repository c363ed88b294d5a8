#!/usr/bin/env bash
# t_files: append (with and without the writeback cache), truncate, sparse
# files (dd seek=, du, cmp), fallocate and hole punching, extended
# attributes (setfattr/getfattr).
. "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v setfattr >/dev/null && command -v getfattr >/dev/null ||
  fail "setfattr/getfattr missing (package attr)"

# Appends: sequential, then two writers appending at once (O_APPEND must
# never let one overwrite the other).
append_checks() {
  local f=$MNT/append.$1
  printf 'a' >"$f"
  printf 'b' >>"$f"
  printf 'c\n' >>"$f"
  [ "$(cat "$f")" = abc ] || fail "sequential appends ($1): $(cat "$f")"
  : >"$f"
  lib_t 60 bash -c "
    for i in \$(seq 500); do echo \"x\$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"; done >>'$f' &
    for i in \$(seq 500); do echo \"y\$i-yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\"; done >>'$f' &
    wait"
  [ "$(wc -l <"$f")" -eq 1000 ] || fail "concurrent appends ($1): $(wc -l <"$f") lines"
  [ "$(grep -c '^x[0-9]*-x\{36\}$' "$f")" -eq 500 ] &&
    [ "$(grep -c '^y[0-9]*-y\{36\}$' "$f")" -eq 500 ] ||
    fail "concurrent appends ($1) damaged lines"
  # Order within each writer is kept.
  grep '^x' "$f" | cut -d- -f1 | tr -d x >"$T_DIR/xs"
  seq 500 | cmp -s - "$T_DIR/xs" || fail "appends ($1) out of order"
}

lib_mount
check "appends with the writeback cache"
append_checks writeback
lib_unmount
lib_mount -o no_writeback
check "appends without the writeback cache (the fs appends)"
append_checks direct
check "appends made in both modes survive a remount"
lib_unmount
lib_mount
[ "$(wc -l <"$MNT/append.writeback")" -eq 1000 ] &&
  [ "$(wc -l <"$MNT/append.direct")" -eq 1000 ] || fail "appends lost on remount"

check "truncate: shrink, extend with zeros, to zero"
head -c 100000 /dev/urandom >"$T_DIR/r"
cp "$T_DIR/r" "$MNT/t"
lib_t 10 truncate -s 1000 "$MNT/t"
[ "$(stat -c %s "$MNT/t")" -eq 1000 ] || fail "size after shrink"
head -c 1000 "$T_DIR/r" | cmp -s - "$MNT/t" || fail "content after shrink"
lib_t 10 truncate -s 70000 "$MNT/t"
{ head -c 1000 "$T_DIR/r"; head -c 69000 /dev/zero; } | cmp -s - "$MNT/t" ||
  fail "extended part is not zeros"
lib_t 10 truncate -s 0 "$MNT/t"
[ "$(stat -c %s "$MNT/t")" -eq 0 ] && [ -z "$(cat "$MNT/t")" ] || fail "truncate to 0"
check "shrink then grow does not resurrect old bytes"
cp "$T_DIR/r" "$MNT/t2"
lib_t 10 truncate -s 10 "$MNT/t2"
printf 'Z' | dd of="$MNT/t2" bs=1 seek=99999 conv=notrunc status=none
{ head -c 10 "$T_DIR/r"; head -c 99989 /dev/zero; printf Z; } | cmp -s - "$MNT/t2" ||
  fail "old data visible after shrink and regrow"
check "O_TRUNC open and ftruncate through an open descriptor"
cp "$T_DIR/r" "$MNT/t3"
echo short >"$MNT/t3"
[ "$(cat "$MNT/t3")" = short ] || fail "O_TRUNC"
lib_t 10 bash -c "exec 3<>'$MNT/t3'; truncate -s 2 /dev/fd/3"
[ "$(cat "$MNT/t3")" = sh ] || fail "ftruncate through an open fd"

check "sparse file: dd seek= writes 4 KiB at 100 MiB, du stays small, cmp equal"
lib_t 30 dd if="$T_DIR/r" of="$MNT/sparse" bs=4096 count=1 seek=25600 status=none
dd if="$T_DIR/r" of="$T_DIR/sparse" bs=4096 count=1 seek=25600 status=none
[ "$(stat -c %s "$MNT/sparse")" -eq $((25601 * 4096)) ] || fail "sparse size"
du_k=$(du -k "$MNT/sparse" | cut -f1)
echo "du of a 100 MiB sparse file: ${du_k} KiB"
[ "$du_k" -lt 1024 ] || fail "sparse file occupies $du_k KiB"
lib_t 60 cmp "$T_DIR/sparse" "$MNT/sparse" || fail "sparse file content"
check "a hole in the middle of a small file reads as zeros"
printf 'head' >"$MNT/holey"
printf 'tail' | dd of="$MNT/holey" bs=1 seek=200000 conv=notrunc status=none
{ printf head; head -c 199996 /dev/zero; printf tail; } | cmp -s - "$MNT/holey" ||
  fail "hole content"

check "fallocate reserves, punch-hole zeroes a range"
lib_t 10 fallocate -l 1M "$MNT/falloc"
[ "$(stat -c %s "$MNT/falloc")" -eq $((1 << 20)) ] || fail "fallocate size"
cmp -s "$MNT/falloc" <(head -c $((1 << 20)) /dev/zero) || fail "fallocated data not zero"
cp "$T_DIR/r" "$MNT/punch"
lib_t 10 fallocate -p -o 8192 -l 16384 "$MNT/punch"
[ "$(stat -c %s "$MNT/punch")" -eq 100000 ] || fail "punch-hole changed the size"
{ head -c 8192 "$T_DIR/r"; head -c 16384 /dev/zero; tail -c +24577 "$T_DIR/r"; } |
  cmp -s - "$MNT/punch" || fail "punched range not zero or data around it changed"
lib_t 10 fallocate -n -o 0 -l 300000 "$MNT/punch"
[ "$(stat -c %s "$MNT/punch")" -eq 100000 ] || fail "fallocate --keep-size changed the size"

check "extended attributes: set, get, list, replace, remove"
f=$MNT/xf
echo x >"$f"
lib_t 10 setfattr -n user.color -v blue "$f"
lib_t 10 setfattr -n user.empty "$f"
[ "$(getfattr --absolute-names --only-values -n user.color "$f")" = blue ] || fail "getfattr value"
[ "$(getfattr --absolute-names -d "$f" | grep -c '^user\.')" -eq 2 ] ||
  fail "getfattr -d: $(getfattr --absolute-names -d "$f")"
lib_t 10 setfattr -n user.color -v green "$f"
[ "$(getfattr --absolute-names --only-values -n user.color "$f")" = green ] || fail "replaced value"
big=$(head -c 3000 /dev/urandom | base64 -w0)
lib_t 10 setfattr -n user.big -v "$big" "$f"
[ "$(getfattr --absolute-names --only-values -n user.big "$f")" = "$big" ] || fail "4 KiB value"
lib_t 10 setfattr -x user.color "$f"
if getfattr --absolute-names -n user.color "$f" >/dev/null 2>&1; then fail "removed attribute still there"; fi
if setfattr -x user.color "$f" 2>/dev/null; then fail "removing an absent attribute succeeded"; fi
mkdir "$MNT/xd"
lib_t 10 setfattr -n user.dir -v yes "$MNT/xd"
[ "$(getfattr --absolute-names --only-values -n user.dir "$MNT/xd")" = yes ] || fail "xattr on a directory"
check "extended attributes survive a remount"
lib_unmount
lib_mount
[ "$(getfattr --absolute-names --only-values -n user.big "$f")" = "$big" ] || fail "xattr lost on remount"
[ "$(getfattr --absolute-names --only-values -n user.dir "$MNT/xd")" = yes ] || fail "dir xattr lost"
cmp "$T_DIR/sparse" "$MNT/sparse" || fail "sparse file changed on remount"

check "root-only mount (no default_permissions): root passes all but exec"
printf '#!/bin/sh\necho ran\n' >"$MNT/script"
chmod 644 "$MNT/script"
if lib_t 10 "$MNT/script" 2>/dev/null; then fail "ran a file with no x bit"; fi
if [ -x "$MNT/script" ]; then fail "access(X_OK) allowed a file with no x bit"; fi
chmod 744 "$MNT/script"
[ -x "$MNT/script" ] || fail "access(X_OK) refused an executable"
[ "$(lib_t 10 "$MNT/script")" = ran ] || fail "an executable did not run"
chmod 000 "$MNT/script"
[ -r "$MNT/script" ] && [ -w "$MNT/script" ] || fail "root refused access to a 000 file"
[ "$(head -c 9 "$MNT/script")" = '#!/bin/sh' ] || fail "root cannot read a 000 file"
if grep -F " $MNT " /proc/self/mountinfo | grep default_permissions >/dev/null; then
  fail "default_permissions set on a root-only mount"
fi

lib_unmount

if command -v setpriv >/dev/null; then
  as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
  lib_mount -o allow_other
  chmod 755 "$T_DIR" "$MNT"       # mktemp -d made T_DIR 0700
  check "permissions are enforced for another user (default_permissions)"
  echo private >"$MNT/private"
  chmod 600 "$MNT/private"
  if as_nobody cat "$MNT/private" >/dev/null 2>&1; then fail "nobody read a 0600 root file"; fi
  chmod 644 "$MNT/private"
  if as_nobody sh -c "echo x >>'$MNT/private'" 2>/dev/null; then fail "nobody wrote a 0644 root file"; fi
  [ "$(as_nobody cat "$MNT/private")" = private ] || fail "nobody cannot read a 0644 file"
  if as_nobody touch "$MNT/newfile" 2>/dev/null; then fail "nobody created a file in a 0755 root dir"; fi
  check "setuid/setgid are cleared when another user writes or truncates, kept for root"
  echo a >"$MNT/suid"
  chmod 4777 "$MNT/suid"
  as_nobody sh -c "echo x >>'$MNT/suid'"
  [ "$(stat -c %a "$MNT/suid")" = 777 ] || fail "setuid kept after a write by nobody: $(stat -c %a "$MNT/suid")"
  chmod 2777 "$MNT/suid"
  as_nobody truncate -s 1 "$MNT/suid"
  [ "$(stat -c %a "$MNT/suid")" = 777 ] || fail "setgid kept after a truncate by nobody"
  chmod 4755 "$MNT/suid"
  echo root >>"$MNT/suid"
  [ "$(stat -c %a "$MNT/suid")" = 4755 ] || fail "root's write cleared setuid"
  check "a setgid directory passes its group to new files and subdirectories"
  mkdir "$MNT/sgid"
  chown 0:4321 "$MNT/sgid"
  chmod 2775 "$MNT/sgid"
  touch "$MNT/sgid/f"
  mkdir "$MNT/sgid/sub"
  [ "$(stat -c %g "$MNT/sgid/f")" = 4321 ] || fail "file group in a setgid dir"
  [ "$(stat -c %g:%a "$MNT/sgid/sub")" = 4321:2755 ] ||
    fail "subdir of a setgid dir: $(stat -c %g:%a "$MNT/sgid/sub")"
  check "files a user creates belong to that user"
  mkdir "$MNT/pub"
  chmod 1777 "$MNT/pub"
  as_nobody sh -c "echo mine >'$MNT/pub/nobodys'"
  [ "$(stat -c %u:%g "$MNT/pub/nobodys")" = 65534:65534 ] || fail "owner of a file nobody created"
  lib_unmount
else
  echo "note: setpriv missing; permission checks skipped"
fi
lib_pass
