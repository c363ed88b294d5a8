#!/usr/bin/env bash
# t_install: `cmake --install` of a release build into a temporary prefix
# (and with DESTDIR): exactly the files a user needs (lsmfs in sbin,
# liblsm shared with its soname and static, lsm.h alone, lsm.pc, two man
# pages), man pages that render without a warning and document every
# option (with its --help default) and subcommand, a shared library that
# exports only lsm.h's names, examples/kv built against the installed
# library with pkg-config alone (shared and static) and run, `lsmfs
# --version` naming the project version and the libraries' versions, and
# a mount by the installed lsmfs.  Nothing outside the test's directory
# is touched.
# It may build the release tree first (scripts/setup release): a longer
# limit than the default, still under ctest's 300 s.
LIB_LIMIT=${LIB_LIMIT:-290}
. "$(dirname "$0")/lib.sh"
lib_init "$@"
top=$(cd "$(dirname "$0")/../.." && pwd)
for tool in groff mandoc man pkg-config make cc readelf nm; do
  command -v "$tool" >/dev/null || fail "missing tool: $tool (scripts/setup test installs it)"
done
lib_release_build
B=$LIB_RELEASE
version=$(sed -n 's/^project(lsmfs VERSION \([0-9.]*\).*/\1/p' "$top/CMakeLists.txt")
[ -n "$version" ] || fail "no project version in CMakeLists.txt"
major=${version%%.*}
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$B/CMakeCache.txt")
[ -n "$libdir" ] || fail "no CMAKE_INSTALL_LIBDIR in $B/CMakeCache.txt"
P=$T_DIR/prefix

check "cmake --install --prefix installs exactly the public files"
lib_t 120 cmake --install "$B" --prefix "$P" >"$T_DIR/install.log" ||
  fail "cmake --install failed: $(cat "$T_DIR/install.log")"
(cd "$P" && find . \( -type f -o -type l \) | sort) >"$T_DIR/files"
sort >"$T_DIR/want" <<EOF
./include/lsm.h
./$libdir/liblsm.a
./$libdir/liblsm.so
./$libdir/liblsm.so.$major
./$libdir/liblsm.so.$version
./$libdir/pkgconfig/lsm.pc
./sbin/lsmfs
./share/man/man3/liblsm.3
./share/man/man8/lsmfs.8
EOF
diff -u "$T_DIR/want" "$T_DIR/files" || fail "installed files differ (- wanted, + installed)"
[ "$(readlink "$P/$libdir/liblsm.so")" = "liblsm.so.$major" ] || fail "liblsm.so link"
[ "$(readlink "$P/$libdir/liblsm.so.$major")" = "liblsm.so.$version" ] || fail "soname link"
grep -q "SONAME.*\[liblsm.so.$major\]" <<<"$(readelf -d "$P/$libdir/liblsm.so.$version")" ||
  fail "liblsm.so.$version has no soname liblsm.so.$major"

check "the shared library exports lsm.h's names and nothing else"
nm -D --defined-only "$P/$libdir/liblsm.so.$version" | awk '{ print $3 }' |
  sort >"$T_DIR/exported"
[ -s "$T_DIR/exported" ] || fail "no exported symbols"
while read -r sym; do
  grep -Eq "[ *]$sym\(" "$P/include/lsm.h" || fail "exported $sym is not declared in lsm.h"
done <"$T_DIR/exported"
for sym in lsm_open lsm_put lsm_get lsm_write lsm_iter_new lsm_close lsm_dir_state; do
  grep -qx "$sym" "$T_DIR/exported" || fail "$sym not exported"
done

check "DESTDIR: the same files under DESTDIR/usr/local, nothing else written"
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:[A-Z]*=//p' "$B/CMakeCache.txt")
[ "$prefix" = /usr/local ] || fail "default prefix is $prefix, not /usr/local"
DESTDIR=$T_DIR/dest lib_t 120 cmake --install "$B" >"$T_DIR/install2.log" ||
  fail "DESTDIR install failed"
(cd "$T_DIR/dest/usr/local" && find . \( -type f -o -type l \) | sort) >"$T_DIR/files2"
diff -u "$T_DIR/want" "$T_DIR/files2" || fail "DESTDIR install differs"
[ "$(ls "$T_DIR/dest")" = usr ] || fail "DESTDIR holds more than usr/: $(ls "$T_DIR/dest")"

check "man pages render without warnings (groff -ww, mandoc -Tlint)"
for page in "$P/share/man/man8/lsmfs.8" "$P/share/man/man3/liblsm.3"; do
  groff -ww -man -Tutf8 -z "$page" 2>"$T_DIR/groff.err" || fail "groff failed on $page"
  [ ! -s "$T_DIR/groff.err" ] || fail "groff warnings on $page: $(cat "$T_DIR/groff.err")"
  mandoc -Tlint -Wwarning "$page" >"$T_DIR/mandoc.out" 2>&1 || true
  [ ! -s "$T_DIR/mandoc.out" ] || fail "mandoc -Tlint on $page: $(cat "$T_DIR/mandoc.out")"
  MANWIDTH=100 man -l "$page" 2>"$T_DIR/man.err" >"$T_DIR/man.out" </dev/null
  [ ! -s "$T_DIR/man.err" ] || fail "man -l $page: $(cat "$T_DIR/man.err")"
  grep -q '^NAME' "$T_DIR/man.out" || fail "man -l $page rendered no NAME section"
  grep -q "$version" "$T_DIR/man.out" || fail "$page does not carry version $version"
done

check "lsmfs(8) documents every option of --help with its default, and every subcommand"
"$P/sbin/lsmfs" --help >"$T_DIR/help" 2>&1 || fail "lsmfs --help failed"
MANWIDTH=200 man -l "$P/share/man/man8/lsmfs.8" 2>/dev/null | col -bx >"$T_DIR/man8"
# --help: "    -o NAME=VALUE   text ... (default D)", the default possibly on a
# continuation line; lsmfs's own section and the general one.
sed -n '/^general options:/,/^mount options/p' "$T_DIR/help" | awk '
  /^    -o [a-z_]+/ { if (opt != "") print opt, def; opt = $2; sub(/=.*/, "", opt); def = "" }
  /^    -[a-zA-Z]  / { if (opt != "") print opt, def; opt = "" }
  opt != "" && match($0, /default [0-9a-z.]+/) { def = substr($0, RSTART + 8, RLENGTH - 8) }
  END { if (opt != "") print opt, def }' >"$T_DIR/opts"
[ "$(wc -l <"$T_DIR/opts")" -ge 12 ] || fail "parsed too few options from --help: $(cat "$T_DIR/opts")"
while read -r opt def; do
  # The man page's paragraph for "-o OPT": its tag, the tags that share
  # the paragraph, the text up to the next tag.  No interval expressions
  # (" {7}"): Debian's default awk, mawk, takes them literally.
  awk -v o="-o $opt" '
    function tag(s) { return index(s, "       " o) == 1 &&
                      substr(s, 8 + length(o), 1) !~ /[a-z_]/ }
    !on && tag($0) { on = 1; print; next }
    on == 1 && /^       -/ { print; next }
    on == 1 { on = 2 }
    on == 2 && /^       -/ { exit }
    on { print }' "$T_DIR/man8" >"$T_DIR/para"
  [ -s "$T_DIR/para" ] || fail "lsmfs(8) does not document -o $opt"
  if [ -n "$def" ]; then
    tr '\n' ' ' <"$T_DIR/para" | tr -s ' ' | grep -Eq "Default: $def([^0-9]|$)" ||
      fail "lsmfs(8) -o $opt: default is not $def (as --help says): $(cat "$T_DIR/para")"
  fi
done <"$T_DIR/opts"
sed -nE 's/^( *usage:)? +[^ ]*lsmfs ([a-z][a-z-]*)( .*|$)/\2/p' "$T_DIR/help" |
  sort -u >"$T_DIR/subcommands"
grep -qx fsck "$T_DIR/subcommands" || fail "no subcommand found in --help's usage lines"
while read -r sub; do
  grep -q "^\.SS $sub\$" "$top/doc/lsmfs.8.in" ||
    fail "lsmfs(8) has no SUBCOMMANDS subsection for '$sub'"
done <"$T_DIR/subcommands"
for section in SYNOPSIS OPTIONS SUBCOMMANDS "EXIT STATUS" FILES DURABILITY EXAMPLES; do
  grep -qx "$section" "$T_DIR/man8" || fail "lsmfs(8) lacks section $section"
done

check "lsmfs --version: the project version and the libraries it runs with"
"$P/sbin/lsmfs" --version >"$T_DIR/version" 2>&1 || fail "lsmfs --version failed"
cat "$T_DIR/version"
want_line() {
  grep -qx "$1" "$T_DIR/version" || fail "--version lacks '$1': $(cat "$T_DIR/version")"
}
want_line "lsmfs version $version"
want_line "FUSE library version $(pkg-config --modversion fuse3)"
want_line "zstd library version $(pkg-config --modversion libzstd)"
want_line "xxhash library version $(pkg-config --modversion libxxhash)"

check "examples/kv built with pkg-config against the installed library, shared and static"
export PKG_CONFIG_PATH=$P/$libdir/pkgconfig
[ "$(pkg-config --modversion lsm)" = "$version" ] || fail "pkg-config --modversion lsm"
grep -q -- "-I$P/$libdir/pkgconfig/" <<<"$(pkg-config --cflags lsm)" ||
  fail "lsm.pc does not point into the prefix: $(pkg-config --cflags lsm)"
cp -r "$top/examples" "$T_DIR/ex"
lib_t 120 make -C "$T_DIR/ex" kv kv-static >"$T_DIR/make.log" 2>&1 ||
  fail "make examples failed: $(cat "$T_DIR/make.log")"
grep -q "$top" "$T_DIR/make.log" && fail "the example's build used the source tree: $(cat "$T_DIR/make.log")"
grep -q "NEEDED.*\[liblsm.so.$major\]" <<<"$(readelf -d "$T_DIR/ex/kv")" ||
  fail "kv is not linked with liblsm.so.$major"
readelf -d "$T_DIR/ex/kv-static" >"$T_DIR/kv-static.dyn"
grep -q liblsm "$T_DIR/kv-static.dyn" && fail "kv-static needs liblsm.so"
# (grep -q reads a captured output: in a pipe it can exit before the
# writer is done, and pipefail would report the writer's SIGPIPE.)
grep -q "liblsm.so.$major => $P/$libdir/" <<<"$(LD_LIBRARY_PATH=$P/$libdir ldd "$T_DIR/ex/kv")" ||
  fail "kv does not load the installed liblsm"
kv() { LD_LIBRARY_PATH=$P/$libdir lib_t 30 "$T_DIR/ex/kv" "$T_DIR/db" "$@"; }
kvs() { lib_t 30 "$T_DIR/ex/kv-static" "$T_DIR/db" "$@"; }
kv put apple red || fail "kv put"
kvs put banana yellow || fail "kv-static put"
kv put cherry dark || fail "kv put"
[ "$(kvs get apple)" = red ] || fail "kv-static get apple"
kv del cherry || fail "kv del"
rc=0; kv get cherry 2>/dev/null || rc=$?
[ "$rc" -eq 1 ] || fail "kv get of a deleted key exited $rc, not 1"
[ "$(kv scan)" = "$(printf 'apple\tred\nbanana\tyellow')" ] || fail "kv scan: $(kv scan)"
[ "$(kvs scan b)" = "$(printf 'banana\tyellow')" ] || fail "kv scan b"
[ "$(kv count)" = 2 ] || fail "kv count"
rc=0; kv frobnicate 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "kv with a bad command exited $rc, not 2"

check "the installed lsmfs mounts a store"
LSMFS=$P/sbin/lsmfs
LSMFS_REAL=$(readlink -f "$LSMFS")
lib_mount_daemon -o cache_mb=16
echo installed >"$MNT/f"
[ "$(cat "$MNT/f")" = installed ] || fail "read back"
lib_unmount

lib_pass
