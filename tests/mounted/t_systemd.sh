#!/usr/bin/env bash
# t_systemd: the systemd fstab line lsmfs(8) documents (x-systemd.automount)
# goes through systemd-fstab-generator as it would at boot, reading the
# test's own fstab file ($SYSTEMD_FSTAB; /etc/fstab is never touched):
# an automount unit wanted by local-fs.target, a mount unit with the
# store, mountpoint, type, options and the store's file system required
# first; then the command that mount unit runs (`mount WHAT WHERE -t TYPE
# -o OPTIONS`, less nofail/noauto/auto, as systemd's mount.c builds it)
# mounts the store.  Starting the units themselves needs systemd as PID 1,
# which a container may lack; the generator and mount(8) are what they
# run.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
top=$(cd "$(dirname "$0")/../.." && pwd)
gen=
for g in /lib/systemd/system-generators/systemd-fstab-generator \
         /usr/lib/systemd/system-generators/systemd-fstab-generator; do
  [ -x "$g" ] && gen=$g && break
done
[ -n "$gen" ] && command -v systemd-escape >/dev/null ||
  lib_skip "systemd-fstab-generator is not installed (package systemd; scripts/setup test)"
lib_install_mount_helper

check "the documented x-systemd.automount line, with this test's paths"
# lsmfs(8)'s example: store /srv/lsmfs/data on /srv/lsmfs, mountpoint /mnt/data.
grep 'x\\-systemd\.automount' "$top/doc/lsmfs.8.in" | grep fuse.lsmfs | sed 's/\\-/-/g' |
  sed "s|/srv/lsmfs/data|$STORE|g; s|/mnt/data|$MNT|g; s|/srv/lsmfs|$T_DIR|g" \
    >"$T_DIR/fstab"
[ "$(wc -l <"$T_DIR/fstab")" -eq 1 ] || fail "no single fstab example in lsmfs(8): $(cat "$T_DIR/fstab")"
cat "$T_DIR/fstab"

check "systemd-fstab-generator makes an automount and a mount unit of it"
out=$T_DIR/units
mkdir "$out"
SYSTEMD_FSTAB=$T_DIR/fstab SYSTEMD_PROC_CMDLINE="" SYSTEMD_LOG_LEVEL=warning \
  lib_t 30 "$gen" "$out" "$out" "$out" 2>"$T_DIR/gen.err" ||
  fail "generator failed: $(cat "$T_DIR/gen.err")"
[ ! -s "$T_DIR/gen.err" ] || fail "generator complained: $(cat "$T_DIR/gen.err")"
mount_unit=$(systemd-escape --path --suffix=mount "$MNT")
auto_unit=${mount_unit%.mount}.automount
[ -f "$out/$mount_unit" ] || fail "no $mount_unit: $(ls -R "$out")"
[ -f "$out/$auto_unit" ] || fail "no $auto_unit: $(ls -R "$out")"
[ -L "$out/local-fs.target.wants/$auto_unit" ] ||
  fail "$auto_unit is not wanted by local-fs.target: $(ls -R "$out")"
for d in "$out"/*.target.*/; do
  [ ! -e "$d$mount_unit" ] || fail "$mount_unit is started at boot itself ($d), not on access"
done
key() { sed -n "s/^$1=//p" "$out/$mount_unit"; }
[ "$(key What)" = "$STORE" ] || fail "What=$(key What)"
[ "$(key Where)" = "$MNT" ] || fail "Where=$(key Where)"
[ "$(key Type)" = fuse.lsmfs ] || fail "Type=$(key Type)"
[ "$(key RequiresMountsFor)" = "$T_DIR" ] || fail "RequiresMountsFor=$(key RequiresMountsFor)"
grep -qx "Where=$MNT" "$out/$auto_unit" || fail "automount Where"
cat "$out/$mount_unit"

check "the mount unit's command mounts the store"
opts=$(key Options | tr ',' '\n' | grep -vxE 'nofail|noauto|auto' | paste -sd, -)
lib_t 60 mount "$(key What)" "$(key Where)" -t "$(key Type)" -o "$opts" ||
  fail "mount $(key What) $(key Where) -t $(key Type) -o $opts failed"
lib_is_mounted "$MNT" fuse.lsmfs || fail "not an lsmfs mount"
DAEMON_PID=$(lib_daemon_pids "$STORE")
[ -n "$DAEMON_PID" ] || fail "no daemon serves $STORE"
echo boot >"$MNT/f"
[ "$(cat "$MNT/f")" = boot ] || fail "read back"
lib_t 30 umount "$MNT" || fail "umount failed"
lib_wait_unmounted "$MNT"
lib_wait_exit "$DAEMON_PID"
DAEMON_PID=

lib_pass
