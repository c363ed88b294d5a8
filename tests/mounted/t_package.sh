#!/usr/bin/env bash
# t_package: the Debian packages as a user meets them.  scripts/package
# builds lsmfs_VERSION_ARCH.deb and lsmfs-dev_VERSION_ARCH.deb (declared
# dependencies, contents, man pages gzip'ed); `apt-get install` of both;
# `man lsmfs` works; mount(8) finds /usr/sbin/lsmfs through an fstab
# line and `mount MOUNTPOINT` (the test's own fstab file, `mount -T`:
# /etc/fstab is never touched); the mount is used, also by examples/kv built with pkg-config alone against
# the installed library; `dpkg -r` then leaves no file behind.
#
# This installs into /usr of the machine running it, so it refuses (skip,
# with the reason) when that would touch or be confused by an lsmfs the
# machine already has: an installed lsmfs or lsmfs-dev package, an lsmfs
# on mount(8)'s helper path (a `cmake --install` in /usr/local), an lsm.pc
# on pkg-config's path, or any file the packages hold.  On every exit
# path it removes (purges) what it installed.
# It may build the release tree first (scripts/setup release): a longer
# limit than the default, still under ctest's 300 s.
LIB_LIMIT=${LIB_LIMIT:-290}
. "$(dirname "$0")/lib.sh"
lib_init "$@"
top=$(cd "$(dirname "$0")/../.." && pwd)
for tool in dpkg dpkg-deb dpkg-query apt-get; do
  command -v "$tool" >/dev/null || lib_skip "no $tool: not a Debian system, cannot install a .deb"
done
for tool in make cc pkg-config man ldconfig; do
  command -v "$tool" >/dev/null || fail "missing tool: $tool"
done
lib_system_lock

pkg_status() {  # installed, config-files, not-installed, ...
  dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || echo not-installed
}
for p in lsmfs lsmfs-dev; do
  st=$(pkg_status "$p")
  [ "$st" = not-installed ] ||
    lib_skip "package $p is on this machine ($st); not touching it"
done
shadow=$(env -i /bin/sh -c 'command -v lsmfs' || true)
[ -z "$shadow" ] ||
  lib_skip "$shadow is on mount(8)'s helper path and would run instead of the package's; not touching it"
pkg-config --exists lsm 2>/dev/null &&
  lib_skip "an lsm.pc is on pkg-config's path ($(pkg-config --variable=pcfiledir lsm)); not touching it"
for h in /sbin/mount.fuse.lsmfs /usr/sbin/mount.fuse.lsmfs; do
  [ ! -e "$h" ] || lib_skip "$h exists: mount(8) would run it, not the package's lsmfs"
done

check "scripts/package builds lsmfs and lsmfs-dev .debs"
version=$(sed -n 's/^project(lsmfs VERSION \([0-9.]*\).*/\1/p' "$top/CMakeLists.txt")
major=${version%%.*}
arch=$(dpkg --print-architecture)
lib_t 600 "$top/scripts/package" "$T_DIR/pkgs" >"$T_DIR/package.log" 2>&1 ||
  fail "scripts/package failed: $(tail -20 "$T_DIR/package.log")"
deb=$T_DIR/pkgs/lsmfs_${version}_$arch.deb
dev=$T_DIR/pkgs/lsmfs-dev_${version}_$arch.deb
[ -f "$deb" ] && [ -f "$dev" ] || fail "missing packages: $(ls "$T_DIR/pkgs")"

check "declared dependencies"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for p in 'libfuse3-[0-9]+' libzstd1 libxxhash0 libc6; do
  echo "$depends" | grep -Eq "(^|, )$p( |,|$)" || fail "lsmfs does not depend on $p: $depends"
done
[ "$(dpkg-deb -f "$deb" Recommends)" = fuse3 ] || fail "lsmfs does not recommend fuse3"
dpkg-deb -f "$dev" Depends | grep "lsmfs (= $version)" >/dev/null ||
  fail "lsmfs-dev does not depend on lsmfs (= $version)"

check "contents: the daemon and runtime library in lsmfs, the rest in lsmfs-dev"
contents() {  # absolute paths; directories end with /
  dpkg-deb -c "$1" | awk '{ print $6 }' | sed 's|^\./|/|'
}
contents "$deb" >"$T_DIR/deb.list"
contents "$dev" >"$T_DIR/dev.list"
for f in /usr/sbin/lsmfs /usr/share/man/man8/lsmfs.8.gz "/usr/lib/liblsm.so.$major"; do
  grep -qx "$f" "$T_DIR/deb.list" || fail "lsmfs lacks $f: $(cat "$T_DIR/deb.list")"
done
for f in /usr/include/lsm.h /usr/lib/liblsm.a /usr/lib/liblsm.so \
         /usr/lib/pkgconfig/lsm.pc /usr/share/man/man3/liblsm.3.gz; do
  grep -qx "$f" "$T_DIR/dev.list" || fail "lsmfs-dev lacks $f: $(cat "$T_DIR/dev.list")"
done
[ "$(grep -c '^/usr/include/.' "$T_DIR/dev.list")" -eq 1 ] || fail "more headers than lsm.h"
cat "$T_DIR/deb.list" "$T_DIR/dev.list" | grep -v '/$' >"$T_DIR/files"
cat "$T_DIR/deb.list" "$T_DIR/dev.list" | grep '/$' | sort -u >"$T_DIR/dirs"
while read -r f; do
  [ ! -e "$f" ] && [ ! -L "$f" ] ||
    lib_skip "$f already exists (not from these packages); not overwriting it"
done <"$T_DIR/files"
: >"$T_DIR/newdirs"
while read -r d; do
  [ -d "$d" ] || echo "$d" >>"$T_DIR/newdirs"
done <"$T_DIR/dirs"

PKG_INSTALLED=0
pkg_purge() {
  [ "$PKG_INSTALLED" = 1 ] || return 0
  timeout 120 dpkg -P lsmfs-dev lsmfs >/dev/null 2>&1 ||
    echo "[$LIB_NAME] could not purge lsmfs, lsmfs-dev: run dpkg -P lsmfs-dev lsmfs" >&2
}
LIB_CLEANUP+=(pkg_purge)

check "apt-get install of both packages installs nothing else"
export DEBIAN_FRONTEND=noninteractive
apt_get() {
  lib_t 300 apt-get -o DPkg::Lock::Timeout=120 -y -q --no-install-recommends "$@"
}
apt_get -s install "$deb" "$dev" >"$T_DIR/apt-sim.log" 2>&1 ||
  fail "apt-get -s install failed: $(cat "$T_DIR/apt-sim.log")"
others=$(awk '$1 == "Inst" && $2 != "lsmfs" && $2 != "lsmfs-dev" { print $2 }' "$T_DIR/apt-sim.log")
[ -z "$others" ] ||
  fail "installing would also install: $others (scripts/setup installs the dependencies)"
PKG_INSTALLED=1
apt_get install "$deb" "$dev" >"$T_DIR/apt.log" 2>&1 ||
  fail "apt-get install failed: $(cat "$T_DIR/apt.log")"
[ "$(pkg_status lsmfs)" = installed ] && [ "$(pkg_status lsmfs-dev)" = installed ] ||
  fail "packages not installed after apt-get"
[ "$(env -i /bin/sh -c 'command -v lsmfs')" = /usr/sbin/lsmfs ] ||
  fail "mount(8)'s helper would not find /usr/sbin/lsmfs"
[ "$(man -w lsmfs)" = /usr/share/man/man8/lsmfs.8.gz ] || fail "man -w lsmfs: $(man -w lsmfs)"
[ "$(man -w 3 liblsm)" = /usr/share/man/man3/liblsm.3.gz ] || fail "man -w 3 liblsm"
MANWIDTH=80 man lsmfs >"$T_DIR/man.out" 2>"$T_DIR/man.err" </dev/null
grep -q '^DURABILITY' "$T_DIR/man.out" || fail "man lsmfs does not render: $(cat "$T_DIR/man.err")"
/usr/sbin/lsmfs --version >"$T_DIR/version" 2>&1 || fail "lsmfs --version failed"
grep -qx "lsmfs version $version" "$T_DIR/version" || fail "lsmfs --version: $(cat "$T_DIR/version")"

check "an fstab line and 'mount MOUNTPOINT' run the installed lsmfs"
LSMFS=/usr/sbin/lsmfs
LSMFS_REAL=$LSMFS
printf '%s %s fuse.lsmfs noauto,cache_mb=16 0 0\n' "$STORE" "$MNT" >"$T_DIR/fstab"
lib_t 60 mount -T "$T_DIR/fstab" "$MNT" || fail "mount -T fstab $MNT failed"
lib_is_mounted "$MNT" fuse.lsmfs || fail "not an lsmfs mount"
DAEMON_PID=$(lib_daemon_pids "$STORE")
[ -n "$DAEMON_PID" ] || fail "no daemon of /usr/sbin/lsmfs serves $STORE"
cp -r "$top/examples" "$MNT/examples"
diff -r "$top/examples" "$MNT/examples" || fail "copied tree differs"

check "examples/kv built with pkg-config alone against the installed library, its store on the mount"
unset PKG_CONFIG_PATH
cp -r "$top/examples" "$T_DIR/ex"
lib_t 120 make -C "$T_DIR/ex" kv kv-static >"$T_DIR/make.log" 2>&1 ||
  fail "make failed: $(cat "$T_DIR/make.log")"
loaded=$(ldd "$T_DIR/ex/kv" | awk -v l="liblsm.so.$major" '$1 == l { print $3 }')
[ -n "$loaded" ] && [ "$(readlink -f "$loaded")" = "/usr/lib/liblsm.so.$version" ] ||
  fail "kv does not load /usr/lib/liblsm.so.$version: $(ldd "$T_DIR/ex/kv")"
lib_t 30 "$T_DIR/ex/kv" "$MNT/kvdb" put greeting hello || fail "kv put"
lib_t 30 "$T_DIR/ex/kv-static" "$MNT/kvdb" put other world || fail "kv-static put"

check "umount, mount again from the fstab line: everything kept"
lib_t 30 umount "$MNT" || fail "umount failed"
lib_wait_unmounted "$MNT"
lib_wait_exit "$DAEMON_PID"
lib_t 60 mount -T "$T_DIR/fstab" "$MNT" || fail "second mount failed"
DAEMON_PID=$(lib_daemon_pids "$STORE")
diff -r "$top/examples" "$MNT/examples" || fail "tree differs after remount"
[ "$(lib_t 30 "$T_DIR/ex/kv" "$MNT/kvdb" get greeting)" = hello ] || fail "kv get after remount"
[ "$(lib_t 30 "$T_DIR/ex/kv" "$MNT/kvdb" count)" = 2 ] || fail "kv count after remount"
lib_t 30 umount "$MNT" || fail "umount failed"
lib_wait_unmounted "$MNT"
lib_wait_exit "$DAEMON_PID"
DAEMON_PID=

check "dpkg -r leaves no file behind"
lib_t 120 dpkg -r lsmfs-dev lsmfs >"$T_DIR/dpkg-r.log" 2>&1 ||
  fail "dpkg -r failed: $(cat "$T_DIR/dpkg-r.log")"
# The ldconfig in postrm keeps dpkg's record of lsmfs (config-files,
# no files) until a purge; lsmfs-dev has no maintainer scripts.
for p in lsmfs lsmfs-dev; do
  case $(pkg_status "$p") in
    not-installed|config-files) ;;
    *) fail "$p is $(pkg_status "$p") after dpkg -r" ;;
  esac
done
while read -r f; do
  [ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f left behind by dpkg -r"
done <"$T_DIR/files"
while read -r d; do
  [ ! -d "$d" ] || fail "directory $d, made by the install, left behind"
done <"$T_DIR/newdirs"
ldconfig -p >"$T_DIR/ldcache"
grep -q liblsm "$T_DIR/ldcache" && fail "liblsm still in the ld.so cache"
[ -z "$(env -i /bin/sh -c 'command -v lsmfs' || true)" ] || fail "an lsmfs is still on the path"
lib_t 120 dpkg -P lsmfs-dev lsmfs >"$T_DIR/dpkg-p.log" 2>&1 ||
  fail "dpkg -P failed: $(cat "$T_DIR/dpkg-p.log")"
PKG_INSTALLED=0
for p in lsmfs lsmfs-dev; do
  [ "$(pkg_status "$p")" = not-installed ] || fail "$p is $(pkg_status "$p") after dpkg -P"
done

lib_pass
