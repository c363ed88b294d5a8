#!/usr/bin/env bash
# t_falloc: fallocate reserves space, as on ext4 and XFS.
#   - fallocate of far more than the disk holds fails with ENOSPC;
#   - a fallocated range counts in st_blocks and in df's used space, also
#     after a remount, and is given back when the file goes;
#   - on a small disk (a 64 MiB tmpfs): fallocate most of the free space,
#     fill the rest with another file until ENOSPC, then writing the whole
#     fallocated range still succeeds (fsynced, reads back).
. "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v fallocate >/dev/null || fail "missing tool: fallocate (util-linux)"
MiB=$((1 << 20))
used() { df -B1 --output=used "$MNT" | tail -1 | tr -d ' '; }
avail() { df -B1 --output=avail "$MNT" | tail -1 | tr -d ' '; }

lib_mount
check "fallocate -l 10T fails with ENOSPC"
rc=0
lib_t 30 fallocate -l 10T "$MNT/huge" 2>"$T_DIR/err" || rc=$?
[ "$rc" -ne 0 ] || fail "fallocate -l 10T succeeded ($(avail) bytes free)"
grep -q "No space left on device" "$T_DIR/err" ||
  fail "fallocate -l 10T failed without ENOSPC: $(cat "$T_DIR/err")"
[ "$(stat -c %s "$MNT/huge")" -eq 0 ] || fail "the failed fallocate changed the size"

check "fallocate -l 20M: st_blocks and df's used space count it"
u0=$(used)
lib_t 30 fallocate -l 20M "$MNT/f" || fail "fallocate -l 20M failed"
blocks=$(stat -c %b "$MNT/f")
[ "$blocks" -ge $((20 * MiB / 512)) ] || fail "st_blocks $blocks after fallocate -l 20M"
u1=$(used)
[ $((u1 - u0)) -ge $((20 * MiB)) ] && [ $((u1 - u0)) -lt $((22 * MiB)) ] ||
  fail "df used grew by $((u1 - u0)) bytes for 20 MiB"
: >"$MNT/keep"
lib_t 30 fallocate -n -o 0 -l 8M "$MNT/keep" || fail "fallocate --keep-size failed"
[ "$(stat -c %s "$MNT/keep")" -eq 0 ] || fail "--keep-size changed the size"
[ "$(stat -c %b "$MNT/keep")" -ge $((8 * MiB / 512)) ] || fail "--keep-size reserved nothing"
echo "used +$(((u1 - u0) / 1024)) KiB, st_blocks $blocks"
lib_unmount

check "a remount keeps the reservations; removing the files gives them back"
lib_mount
[ "$(stat -c %b "$MNT/f")" -ge $((20 * MiB / 512)) ] || fail "st_blocks lost on remount"
u2=$(used)
[ "$u2" -ge $((u0 + 28 * MiB)) ] || fail "df used $u2 after the remount, $u0 before the fallocates"
rm -f "$MNT/f" "$MNT/keep"
u3=$(used)
[ "$u3" -lt $((u2 - 27 * MiB)) ] || fail "df used $u3 after removing the files ($u2 before)"
lib_unmount

check "small disk: the fallocated range can be written after the disk filled up"
DISK=$T_DIR/disk
mkdir "$DISK"
mount -t tmpfs -o size=64m tmpfs "$DISK" || fail "cannot mount a tmpfs"
STORE=$DISK/store
lib_mount
free0=$(avail)
resv_mib=$((free0 * 6 / 10 / MiB))
[ "$resv_mib" -ge 8 ] || fail "only $free0 bytes free on the 64 MiB disk"
lib_t 30 fallocate -l ${resv_mib}M "$MNT/resv" || fail "fallocate -l ${resv_mib}M failed ($free0 free)"
head -c $((4 * MiB)) /dev/urandom >"$T_DIR/src"
head -c $((resv_mib * MiB)) /dev/urandom >"$T_DIR/resv.src"
lib_fill "$T_DIR/src" "$MNT/fill" 20
full=$LIB_FULL
[ "$full" -gt 0 ] || fail "80 MiB of other files fit beside a ${resv_mib} MiB reservation"
echo "reserved ${resv_mib} MiB of $((free0 / MiB)) MiB free; fill$full hit ENOSPC"
rc=0
lib_t 120 dd if="$T_DIR/resv.src" of="$MNT/resv" bs=1M conv=notrunc,fsync \
  status=none 2>"$T_DIR/dd.err" || rc=$?
[ "$rc" -eq 0 ] || fail "writing the fallocated range failed: $(cat "$T_DIR/dd.err")"
lib_t 60 cmp "$T_DIR/resv.src" "$MNT/resv" || fail "the fallocated file reads back wrong"
lib_unmount
lib_mount
lib_t 60 cmp "$T_DIR/resv.src" "$MNT/resv" || fail "the fallocated file differs after a remount"
lib_unmount

lib_pass
