#!/usr/bin/env bash
# Page render times at the department of a fresh `eduioc demo`: the median (and max) of
# 20 requests of each page, logged in with a session cookie as a browser would be; plus
# the demo's time to its banner and to a complete department dashboard, and the binary size.
#
# Usage: bash docs/measure-pages.sh [path/to/eduioc]   (default: a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
if [ -z "$bin" ]; then
    cargo build --release -p eduioc >/dev/null 2>&1
    bin=${CARGO_TARGET_DIR:-target}/release/eduioc
fi
work=$(mktemp -d)
port=$((20000 + RANDOM % 10000))
"$bin" demo --http "127.0.0.1:$port" --data "$work/demo" >"$work/out" 2>"$work/log" &
demo=$!
trap 'kill -INT $demo 2>/dev/null; wait $demo 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 600); do
    grep -q "holds every school" "$work/out" && break
    sleep 0.2
done
grep -E "ready in|holds every" "$work/out"
url="http://127.0.0.1:$port"
pass=$(awk '/^  Login: admin/ { print $4; exit }' "$work/out")
district=$(awk '$2 == "district" { print $1; exit }' "$work/out")
dept=$(awk '$2 == "department" { print $1; exit }' "$work/out")
curl -s -c "$work/jar" -o /dev/null -d "user=admin&password=$pass&next=/" "$url/login"
printf "%-34s %10s %10s %10s\n" page "median ms" "max ms" bytes
for page in / "/unit/$district" /network "/records?q=nguyen+van" /notifications "/export/$dept.csv" "/export/$dept.xlsx"; do
    times=()
    for _ in $(seq 20); do
        times+=("$(curl -s -b "$work/jar" -o "$work/body" -w '%{http_code} %{time_total}' "$url$page")")
    done
    codes=$(printf "%s\n" "${times[@]}" | cut -d' ' -f1 | sort -u | tr '\n' ' ')
    [ "$codes" = "200 " ] || { echo "$page answered $codes"; exit 1; }
    printf "%s\n" "${times[@]}" | cut -d' ' -f2 | sort -n |
        awk -v p="$page" -v b="$(stat -c %s "$work/body")" \
            '{ t[NR] = $1 * 1000 } END { printf "%-34s %10.2f %10.2f %10d\n", p, (t[10] + t[11]) / 2, t[NR], b }'
done
echo "binary: $bin, $(stat -c %s "$bin") bytes"
