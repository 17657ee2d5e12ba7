#!/usr/bin/env bash
# The full campaign: each target in turn (one at a time: the machine is shared) for
# SECONDS_PER_TARGET (default 1800), under nice -n 19, growing fuzz/corpus/<target>; then
# each corpus is minimised (cargo fuzz cmin) so what is committed stays small. Logs go
# to fuzz/work/<target>.log; the closing statistics of each run are printed.
# Usage: bash fuzz/campaign.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-1800}
shift || true
targets=("$@")
[ "${#targets[@]}" -ne 0 ] || targets=(entry_decode frame_decode page_validate import_csv import_xlsx)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/fuzz/target}
mkdir -p fuzz/work
nice -n 19 cargo fuzz build -O --sanitizer none
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    echo "== $t: ${secs}s"
    set +e
    nice -n 19 cargo fuzz run -O --sanitizer none "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 >"fuzz/work/$t.log" 2>&1
    status=$?
    set -e
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|stat::number_of_executed_units|stat::peak_rss_mb|ERROR|panicked' "fuzz/work/$t.log" || true
    [ "$status" -eq 0 ] || echo "!! $t exited $status: see fuzz/work/$t.log and fuzz/artifacts/$t/"
    nice -n 19 cargo fuzz cmin -O --sanitizer none "$t" "fuzz/corpus/$t" -- -max_len=65536 \
        >"fuzz/work/$t.cmin.log" 2>&1 || echo "!! cmin of $t failed: see fuzz/work/$t.cmin.log"
    echo "   corpus: $(ls "fuzz/corpus/$t" | wc -l) files, $(du -sh "fuzz/corpus/$t" | cut -f1)"
done
