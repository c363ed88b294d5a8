#!/usr/bin/env bash
# t_sqlite: SQLite databases on the mount (rollback journal and WAL mode):
# many small transactions, updates, deletes, VACUUM; PRAGMA
# integrity_check says ok, and row counts and sums are right, before and
# after a remount.
. "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v sqlite3 >/dev/null || fail "sqlite3 missing"

TX=300          # transactions
ROWS=10         # rows per transaction

workload() {  # prints the SQL of the whole workload
  echo "PRAGMA journal_mode=$1;"
  echo "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT, v BLOB, n INTEGER);"
  echo "CREATE INDEX t_k ON t (k);"
  local tx r id
  for tx in $(seq "$TX"); do
    echo "BEGIN;"
    for r in $(seq "$ROWS"); do
      id=$(( (tx - 1) * ROWS + r ))
      echo "INSERT INTO t (id, k, v, n) VALUES ($id, 'key$id', randomblob($(( id % 997 + 10 ))), $id);"
    done
    echo "UPDATE t SET n = n + 1 WHERE id = $(( (tx - 1) * ROWS + 1 ));"
    [ $((tx % 10)) -eq 0 ] && echo "DELETE FROM t WHERE id = $(( (tx - 1) * ROWS + 2 ));"
    echo "COMMIT;"
  done
}

# With TX transactions of ROWS rows: every 10th deletes one row; the first
# row of each transaction got n + 1.
EXPECT_COUNT=$(( TX * ROWS - TX / 10 ))
expect_sum() {
  local all=$(( TX * ROWS * (TX * ROWS + 1) / 2 )) deleted=0 tx
  for tx in $(seq 10 10 "$TX"); do deleted=$(( deleted + (tx - 1) * ROWS + 2 )); done
  echo $(( all - deleted + TX ))
}
EXPECT_SUM=$(expect_sum)

verify() {  # verify DB LABEL
  local out
  out=$(lib_t 60 sqlite3 "$1" "PRAGMA integrity_check;") || fail "$2: sqlite3 failed"
  [ "$out" = ok ] || fail "$2: integrity_check: $out"
  out=$(lib_t 60 sqlite3 "$1" "SELECT count(*), sum(n) FROM t;")
  [ "$out" = "$EXPECT_COUNT|$EXPECT_SUM" ] ||
    fail "$2: count|sum = $out, expected $EXPECT_COUNT|$EXPECT_SUM"
}

lib_mount

for mode in DELETE WAL; do
  db=$MNT/test-$mode.db
  check "$TX transactions in journal_mode=$mode"
  workload "$mode" >"$T_DIR/work.sql"
  lib_t 120 sqlite3 -bail "$db" <"$T_DIR/work.sql" >/dev/null || fail "workload failed ($mode)"
  verify "$db" "$mode"
  check "concurrent readers while a writer commits ($mode)"
  lib_t 120 bash -c "
    pids=
    for i in \$(seq 50); do
      sqlite3 -cmd '.timeout 20000' '$db' 'BEGIN IMMEDIATE; UPDATE t SET k = k WHERE id = 1; COMMIT;' || exit 1
    done &
    pids=\$!
    for r in 1 2 3; do
      for i in \$(seq 30); do
        sqlite3 -cmd '.timeout 20000' '$db' 'SELECT count(*) FROM t;' >/dev/null || exit 1
      done &
      pids=\"\$pids \$!\"
    done
    for p in \$pids; do wait \$p || exit 1; done" || fail "concurrent access failed ($mode)"
  verify "$db" "$mode after concurrent access"
  check "VACUUM ($mode)"
  lib_t 60 sqlite3 "$db" "VACUUM;" || fail "VACUUM failed ($mode)"
  verify "$db" "$mode after VACUUM"
done

check "both databases intact after a remount"
lib_unmount
lib_mount
for mode in DELETE WAL; do
  verify "$MNT/test-$mode.db" "$mode after remount"
done

lib_unmount
lib_pass
