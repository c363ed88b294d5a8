#!/usr/bin/env bash
# t_suid: setuid/setgid (and security.capability) are cleared by changes
# exactly as the kernel clears them on a local filesystem.  A tmpfs in the
# same test is the oracle: every case runs on it and on the mount, and the
# modes must match (also the mode the writer sees with stat right after
# its write).  Cases: writers nobody (no groups), nobody with the file's
# group as a supplementary group, a writer whose primary group is the
# file's, root (CAP_FSETID), root of a user namespace nobody made (all
# capabilities there, none in the initial namespace); modes 6766 6666 2666 2676 4666 on a root:G
# file; changes: >> append, dd conv=notrunc, truncate, O_TRUNC, fallocate
# (mode 0), fallocate --punch-hole, copy_file_range into it from a file
# of the same mount; with the writeback cache (default) and with
# -o no_writeback; on an allow_other mount.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v setpriv >/dev/null || fail "missing tool: setpriv (util-linux)"
command -v fallocate >/dev/null || fail "missing tool: fallocate (util-linux)"
command -v setfattr >/dev/null && command -v getfattr >/dev/null ||
  fail "setfattr/getfattr missing (package attr)"
# A python3 every user can run (not a per-user shim): copy_file_range.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || fail "missing tool: python3"
G=4321
REF=$T_DIR/ref
mkdir "$REF"
mount -t tmpfs -o size=16m,mode=0777 tmpfs "$REF" || fail "cannot mount a tmpfs"
chmod 755 "$T_DIR" "$MNT"          # mktemp -d made T_DIR 0700

# as WHO CMD...: runs CMD as writer WHO.
as() {
  local who=$1
  shift
  case $who in
    nobody) setpriv --reuid=65534 --regid=65534 --clear-groups "$@" ;;
    supp)   setpriv --reuid=65534 --regid=65534 --groups=$G "$@" ;;
    primary) setpriv --reuid=65534 --regid=$G --clear-groups "$@" ;;
    root)   "$@" ;;
    # root of a user namespace made by nobody: every capability there,
    # none where the kernel's capable() looks (the initial namespace)
    userns) setpriv --reuid=65534 --regid=65534 --clear-groups unshare -U -r "$@" ;;
  esac
}
WRITERS="nobody supp primary root"
if as userns true 2>/dev/null; then
  WRITERS+=" userns"
else
  echo "note: no unprivileged user namespaces here; that writer is skipped"
fi

MODES="6766 6666 2666 2676 4666"
OPS="append dd truncate otrunc falloc punch copy"

# op_cmd OP FILE: the shell command for change OP on FILE.
op_cmd() {
  case $1 in
    append)   echo "echo b >>'$2'" ;;
    dd)       echo "dd if=/dev/zero of='$2' bs=1 count=1 seek=3 conv=notrunc status=none" ;;
    truncate) echo "truncate -s 100 '$2'" ;;
    otrunc)   echo ": >'$2'" ;;
    falloc)   echo "fallocate -l 65536 '$2'" ;;
    punch)    echo "fallocate -p -o 0 -l 4096 '$2'" ;;
    copy)     echo "$PY -c 'import os, sys; sys.exit(os.copy_file_range(os.open(sys.argv[1], os.O_RDONLY), os.open(sys.argv[2], os.O_WRONLY), 10, 0, 100) != 10)' '$(dirname "$2")/.src' '$2'" ;;
  esac
}

# run_cases DIR WHO: one file per (mode, change) in DIR, root:G with that
# mode; WHO applies each change and stats the file right after; prints
# "mode change seen-right-after final" lines.
run_cases() {
  local dir=$1/$2 who=$2 mode op f script=
  mkdir "$dir"
  chmod 777 "$dir"
  echo "source of copy_file_range" >"$dir/.src"   # 0644, not listed by *
  for mode in $MODES; do
    for op in $OPS; do
      f=$dir/$mode.$op
      printf '%8192s' '' >"$f"
      script+="$(op_cmd "$op" "$f") && echo $mode $op \$(stat -c %a '$f') || echo $mode $op FAILED;"
    done
  done
  chown 0:$G "$dir"/*
  for mode in $MODES; do
    chmod "$mode" "$dir/$mode".*
  done
  as "$who" timeout -k 5 60 sh -c "$script" >"$dir.seen" ||
    fail "the changes by $who in $1 did not finish"
  # join "mode op seen" with the final modes ("DIR/mode.op final")
  stat -c '%n %a' "$dir"/* | sed 's|.*/||; s|\.| |' |
    awk 'NR == FNR { fin[$1 " " $2] = $3; next } { print $0, fin[$1 " " $2] }' \
      - "$dir.seen"
}

# all_cases: compares the mount against the oracle for every case.
all_cases() {
  local who want got
  rm -rf "${REF:?}"/* "${MNT:?}"/*
  for who in $WRITERS; do
    want=$(run_cases "$REF" "$who")
    oracle_ok "$who" "$want"
    got=$(run_cases "$MNT" "$who")
    [ "$got" = "$want" ] ||
      fail "as $who (mode change seen-right-after final): $(diff <(echo "$want") <(echo "$got") | sed -n 's/^> /lsmfs: /p; s/^< /tmpfs: /p' | tr '\n' ';')"
  done
  echo "$(echo "$MODES" | wc -w) modes x $(echo "$OPS" | wc -w) changes x $(echo "$WRITERS" | wc -w) writers agree with tmpfs"
}

# oracle_ok WHO OUTPUT: the oracle's answers to the cases of the report
# (so a broken oracle cannot make the test pass).
oracle_ok() {
  case $1 in
    nobody) grep -qx '6766 append 766 766' <<<"$2" &&
            grep -qx '6666 falloc 666 666' <<<"$2" &&
            grep -qx '6766 punch 766 766' <<<"$2" ;;
    supp)   grep -qx '2666 append 2666 2666' <<<"$2" &&
            grep -qx '2676 append 676 676' <<<"$2" ;;
    root)   grep -qx '6766 append 6766 6766' <<<"$2" ;;
    userns) grep -qx '6766 append 766 766' <<<"$2" &&
            grep -qx '6666 truncate 666 666' <<<"$2" ;;
    *)      true ;;
  esac || fail "the tmpfs oracle answers unexpectedly for $1: $2"
}

# caps_case DIR OP: a file with security.capability loses it when nobody
# applies change OP (prints the xattr count left).
caps_case() {
  local f=$1/capf
  rm -f "$f"
  echo "source of copy_file_range" >"$1/.src"
  printf '%8192s' '' >"$f"
  chmod 666 "$f"
  # VFS_CAP_REVISION_2, effective, permitted CAP_NET_BIND_SERVICE
  setfattr -n security.capability -v 0sAQAAAgAEAAAAAAAAAAAAAAAAAAA= "$f"
  getfattr -n security.capability "$f" >/dev/null 2>&1 || fail "no security.capability set in $1"
  as nobody sh -c "$(op_cmd "$2" "$f")"
  getfattr -m - -d "$f" 2>/dev/null | grep -c '^security.capability' || true
}

for opts in "-o allow_other" "-o allow_other,no_writeback"; do
  SECONDS=0
  lib_mount $opts
  check "setuid/setgid after writes, $opts: as on tmpfs"
  all_cases
  check "security.capability goes when another user changes the file, $opts"
  for op in $OPS; do
    [ "$(caps_case "$REF" $op)" = 0 ] || fail "tmpfs oracle kept security.capability ($op)"
    [ "$(caps_case "$MNT" $op)" = 0 ] || fail "security.capability kept after $op by nobody"
  done
  lib_unmount
  echo "($SECONDS s)"
done

lib_pass
