#!/usr/bin/env bash
# A short fuzzing run for CI: every target for a fixed number of inputs from a fixed seed
# (FUZZ_SEED, default 20261130), starting from the committed corpus and seeds, so a run
# replays exactly: the same commit finds the same thing on any machine. The counts take
# about 15 s each here (FUZZ_SCALE multiplies them; FUZZ_SECONDS caps each target, default
# 300). New inputs go to a temporary directory, so the tree stays clean. Exploring with
# fresh seeds for longer is fuzz/campaign.sh's job.
# Exits non-zero on any crash, panic, hang (over 10 s for one input) or OOM
# (over 2 GiB); the failing input is kept in fuzz/artifacts/<target>/ and printed in
# base64. Needs only stable Rust and a C++ compiler (libFuzzer is built from source by
# libfuzzer-sys); installs cargo-fuzz if missing. See fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-300}
seed=${FUZZ_SEED:-20261130}
scale=${FUZZ_SCALE:-1}
targets=(entry_decode frame_decode page_validate import_csv import_xlsx)
# Inputs per target: about 15 s each on this project's 2-core machine.
declare -A runs=([entry_decode]=500000 [frame_decode]=400000 [page_validate]=6000
    [import_csv]=70000 [import_xlsx]=100000)
export CARGO_TERM_COLOR=never
# The fuzz project's own target directory unless one is given.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/fuzz/target}
start=$(date +%s)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    timeout 1200 cargo install cargo-fuzz --locked
fi
if ! command -v c++ >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
fi
cargo fuzz --version

echo "== fuzz build (stable Rust, coverage instrumentation, no sanitizer)"
# No sanitizer: AddressSanitizer needs a nightly compiler; Rust code is memory-safe
# without it, and panics, aborts, hangs and OOMs are what the targets look for.
timeout 2400 cargo fuzz build -O --sanitizer none
built=$(date +%s)

failed=()
for t in "${targets[@]}"; do
    n=$((${runs[$t]} * scale))
    echo "== fuzz $t: $n inputs from seed $seed"
    scratch=$(mktemp -d)
    set +e
    timeout $((secs + 120)) cargo fuzz run -O --sanitizer none "$t" \
        "$scratch" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -seed="$seed" -runs="$n" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 2>&1 | tee "$scratch.log" | grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|ERROR|panicked|SUMMARY|stat::number_of_executed_units|stat::peak_rss_mb'
    status=${PIPESTATUS[0]}
    set -e
    if [ "$status" -ne 0 ]; then
        failed+=("$t")
        echo "!! $t failed (exit $status); last lines:"
        tail -40 "$scratch.log"
        for a in fuzz/artifacts/"$t"/*; do
            [ -f "$a" ] || continue
            echo "!! failing input $a (base64):"
            base64 -w0 "$a"
            echo
        done
    fi
    rm -rf "$scratch" "$scratch.log"
done
end=$(date +%s)
echo "== fuzz: build $((built - start))s, runs $((end - built))s, ${#targets[@]} targets"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}"
    exit 1
fi
echo "fuzz: every target ran its inputs from seed $seed without a finding"
