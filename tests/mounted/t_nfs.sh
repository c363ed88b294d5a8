#!/usr/bin/env bash
# t_nfs: lsmfs exported over NFS.  The kernel here has no NFS server, so
# the exporter is NFS-Ganesha's FSAL_VFS (user space; it keeps file
# handles from name_to_handle_at and reopens them with open_by_handle_at,
# as the kernel server does) and the client libnfs's nfs-cp / nfs-cat /
# nfs-ls, all over NFSv3 on 127.0.0.1 (libnfs 4.0's NFSv4 WRITE fails to
# encode requests of 4 KiB and more).  Files written through NFS are the
# same on the lsmfs mount and read back the same through NFS, also after
# the kernel dropped its inodes (the server's handles must still resolve)
# and after a remount.  Skipped only when those packages are missing
# (scripts/setup test installs them).
. "$(dirname "$0")/lib.sh"
lib_init "$@"

fsal=$(dpkg -L nfs-ganesha-vfs 2>/dev/null | grep '/libfsalvfs\.so$' | head -n 1 || true)
[ -n "$fsal" ] && [ -e "$fsal" ] ||
  lib_skip "ganesha's FSAL_VFS is missing (package nfs-ganesha-vfs)"
GANESHA_PLUGINS=$(dirname "$fsal")
for tool in ganesha.nfsd rpcbind rpcinfo nfs-cp nfs-cat nfs-ls ss; do
  PATH=$PATH:/usr/sbin command -v "$tool" >/dev/null ||
    lib_skip "$tool is missing (packages nfs-ganesha-vfs, rpcbind, libnfs-utils, iproute2)"
done
PATH=$PATH:/usr/sbin

GANESHA_PID=
RPCBIND_PID=
# Stops the servers this test started (a running ganesha keeps the
# exported mount busy, so this runs before the unmount).
stop_servers() {
  local p i
  for p in $GANESHA_PID $RPCBIND_PID; do
    kill -TERM "$p" 2>/dev/null || continue
    for i in $(seq 100); do lib_alive "$p" || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  GANESHA_PID=
  RPCBIND_PID=
}
LIB_CLEANUP+=(stop_servers)

# A TCP port on 127.0.0.1 nobody listens on.
free_port() {
  local p
  for p in $(shuf -i 20000-29999 -n 50); do
    ss -Htln "sport = :$p" | grep . >/dev/null || { echo "$p"; return; }
  done
  fail "no free TCP port found"
}

lib_mount
mkdir "$MNT/dir"

# NFSv3 needs the portmapper: a running one is used, else one of ours.
# Ganesha would take over another NFS server's registration with it.
if lib_t 5 rpcinfo -p 127.0.0.1 >"$T_DIR/rpcinfo" 2>&1; then
  awk '$1 == 100003 || $1 == 100005 { found = 1 } END { exit !found }' \
    "$T_DIR/rpcinfo" &&
    lib_skip "an NFS server is registered with rpcbind already: $(grep -E ' (nfs|mountd)$' "$T_DIR/rpcinfo" | tr -s ' ' | tr '\n' ';')"
else
  rpcbind -f </dev/null >"$T_DIR/rpcbind.log" 2>&1 &
  RPCBIND_PID=$!
  for i in $(seq 50); do
    lib_t 5 rpcinfo -p 127.0.0.1 >/dev/null 2>&1 && break
    sleep 0.1
  done
  lib_t 5 rpcinfo -p 127.0.0.1 >/dev/null 2>&1 ||
    fail "rpcbind did not start: $(cat "$T_DIR/rpcbind.log")"
fi

nfs_port=$(free_port)
mnt_port=$(free_port)
[ "$nfs_port" != "$mnt_port" ] || mnt_port=$((nfs_port + 1))
mkdir "$T_DIR/recovery"
cat >"$T_DIR/ganesha.conf" <<EOF
NFS_CORE_PARAM {
  Protocols = 3;
  NFS_Port = $nfs_port;
  MNT_Port = $mnt_port;
  Bind_addr = 127.0.0.1;
  Enable_NLM = false;
  Enable_RQUOTA = false;
  Enable_UDP = false;
  Plugins_Dir = $GANESHA_PLUGINS;
}
NFSV4 { Graceless = true; RecoveryRoot = $T_DIR/recovery; }
# Descriptors are closed within a second of use (see wait_fds_closed).
MDCACHE { FD_LWMark_Percent = 0; FD_HWMark_Percent = 1; LRU_Run_Interval = 1; }
EXPORT {
  Export_Id = 1;
  Path = $MNT;
  Pseudo = /lsmfs;
  Access_Type = RW;
  Squash = No_Root_Squash;
  SecType = sys;
  Protocols = 3;
  Transports = TCP;
  FSAL { Name = VFS; }
}
EOF
ganesha.nfsd -F -f "$T_DIR/ganesha.conf" -L "$T_DIR/ganesha.log" \
  -p "$T_DIR/ganesha.pid" -N NIV_EVENT </dev/null >"$T_DIR/ganesha.out" 2>&1 &
GANESHA_PID=$!
URL="nfs://127.0.0.1$MNT"
for i in $(seq 100); do
  lib_t 10 nfs-ls "$URL" >/dev/null 2>&1 && break
  lib_alive "$GANESHA_PID" ||
    fail "ganesha exited: $(tail -n 5 "$T_DIR/ganesha.log" "$T_DIR/ganesha.out")"
  sleep 0.2
done
lib_t 10 nfs-ls "$URL" >/dev/null ||
  fail "the export is not reachable: $(tail -n 5 "$T_DIR/ganesha.log")"

head -c 3000000 /dev/urandom >"$T_DIR/big"
head -c 70000 /dev/urandom >"$T_DIR/mid"
echo small >"$T_DIR/small"
names=(big dir/mid small)

# verify: every file reads back the same through NFS, then on the mount
# (in that order: reading the mount brings the kernel's inodes back).
verify() {
  local n
  for n in "${names[@]}"; do
    lib_t 60 nfs-cat "$URL/$n" >"$T_DIR/got" || fail "nfs-cat $n"
    cmp -s "$T_DIR/$(basename "$n")" "$T_DIR/got" || fail "$n through NFS differs"
  done
  lib_t 10 nfs-ls "$URL/dir" >"$T_DIR/ls" || fail "nfs-ls dir"
  grep -q ' mid$' "$T_DIR/ls" || fail "nfs-ls dir: $(cat "$T_DIR/ls")"
  for n in "${names[@]}"; do
    cmp -s "$T_DIR/$(basename "$n")" "$MNT/$n" || fail "$n on the mount differs"
  done
}

# wait_fds_closed: ganesha closes the descriptors it opened on the mount
# but the export's root (its cache's low-water mark is 0, see MDCACHE);
# an open file pins its inode, which the kernel could not then evict.
wait_fds_closed() {
  local i
  for i in $(seq 300); do
    [ "$(find "/proc/$GANESHA_PID/fd" -lname "$MNT/*" | wc -l)" -eq 0 ] && return
    sleep 0.1
  done
  fail "ganesha still holds files open on the mount after 30 s:" \
    "$(find "/proc/$GANESHA_PID/fd" -lname "$MNT/*" -printf '%l ')"
}

check "files written through NFS read back the same"
for n in "${names[@]}"; do
  lib_t 60 nfs-cp "$T_DIR/$(basename "$n")" "$URL/$n" >/dev/null ||
    fail "nfs-cp $n: $(tail -n 3 "$T_DIR/ganesha.log")"
done
verify

check "the server's handles still resolve after the kernel dropped its inodes"
wait_fds_closed
lib_evict
verify
check "writing through those handles works too"
wait_fds_closed
lib_evict
lib_t 60 nfs-cp "$T_DIR/mid" "$URL/dir/mid2" >/dev/null || fail "nfs-cp after eviction"
names+=(dir/mid2)
cp "$T_DIR/mid" "$T_DIR/mid2"
verify

check "the files are there after the server stops and lsmfs remounts"
stop_servers
lib_unmount
lib_mount
for n in "${names[@]}"; do
  cmp -s "$T_DIR/$(basename "$n")" "$MNT/$n" || fail "$n after remount differs"
done
lib_unmount
lib_pass
