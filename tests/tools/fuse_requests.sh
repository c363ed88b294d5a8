#!/usr/bin/env bash
# tests/tools/fuse_requests.sh LSMFS [OPTIONS] — the FUSE requests each
# everyday operation costs, as the README's request table lists them.
#
# Mounts a fresh store with `LSMFS -f -d [-o OPTIONS]` (libfuse's debug
# log names every request with the pid of the process that caused it),
# runs each operation in a process of its own and prints one markdown row
# per operation: the requests made by that process, then (in brackets)
# those the kernel sent on its own behalf meanwhile (RELEASE after the
# last close, FORGET).  Needs root; removes everything on exit.
set -euo pipefail
lsmfs=$1
opts=${2:-}
D=$(mktemp -d)
M=$D/mnt
mkdir "$D/store" "$M"
dpid=
cleanup() {
  set +e
  mountpoint -q "$M" && fusermount3 -u "$M"
  [ -z "$dpid" ] || wait "$dpid" 2>/dev/null
  rm -rf "$D"
}
trap cleanup EXIT
"$lsmfs" -f -d ${opts:+-o "$opts"} "$D/store" "$M" 2>"$D/log" &
dpid=$!
for _ in $(seq 100); do mountpoint -q "$M" && break; sleep 0.1; done
mountpoint -q "$M" || { echo "fuse_requests: mount failed" >&2; exit 1; }

# row NAME CMD...: runs CMD in its own process and prints its requests.
row() {
  local name=$1 start pid mine other
  shift
  sync
  sleep 0.3                        # let the kernel's own requests settle
  start=$(wc -l <"$D/log")
  bash -c 'echo $$ >"$0"; exec "$@"' "$D/pid" "$@" >/dev/null 2>&1 ||
    echo "fuse_requests: $name failed" >&2
  sleep 0.5
  pid=$(cat "$D/pid")
  tail -n +"$((start + 1))" "$D/log" |
    sed -n 's/.*opcode: \([A-Z_0-9]*\) .*pid: \([0-9]*\).*/\1 \2/p' >"$D/reqs"
  mine=$(awk -v p="$pid" '$2 == p { printf "%s%s", s, $1; s = ", " }' "$D/reqs")
  other=$(awk -v p="$pid" '$2 != p { printf "%s%s", s, $1; s = ", " }' "$D/reqs")
  printf '| %s | %s%s |\n' "$name" "${mine:--}" "${other:+ [$other]}"
}

mkdir "$M/d"
touch "$M/d/r" "$M/d/u"
printf hello >"$M/d/w0"
mkdir -p "$D/src"
printf 'hello\n' >"$D/src/t"
tar -C "$D/src" -cf "$D/t.tar" t
echo "| operation | requests [sent by the kernel itself] |"
echo "|---|---|"
row "create an empty file and close it" \
  python3 -c "import os; os.close(os.open('$M/d/new', os.O_CREAT | os.O_WRONLY, 0o644))"
row "stat it after the close" stat "$M/d/new"
row "stat a missing name" python3 -c "import os; assert not os.path.exists('$M/d/missing')"
row "rename" python3 -c "import os; os.rename('$M/d/r', '$M/d/r2')"
row "unlink" python3 -c "import os; os.unlink('$M/d/u')"
row "write a small file (one write)" \
  python3 -c "import os; fd = os.open('$M/d/w', os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644); os.write(fd, b'x' * 100); os.close(fd)"
row "stat it" stat "$M/d/w"
row "read it back" cat "$M/d/w"
row "overwrite a file, two write(2)s" \
  python3 -c "import os; fd = os.open('$M/d/w0', os.O_WRONLY | os.O_TRUNC); os.write(fd, b'y'); os.write(fd, b'z'); os.close(fd)"
row "shell: echo x > new file" bash -c "echo x >'$M/d/e'"
row "chmod" chmod 600 "$M/d/e"
row "chown" chown 1:1 "$M/d/e"
row "tar -x, one file" tar -C "$M/d" -xf "$D/t.tar"
row "mkdir" mkdir "$M/d/sub"
ln -s w "$M/d/sym"
row "readlink of a symlink" readlink "$M/d/sym"
row "readlink of it again" readlink "$M/d/sym"
row "ls -l of 8 entries" ls -l "$M/d"
