#!/bin/sh
# run-short.sh - build the libFuzzer targets with clang (ASan + UBSan) and run each for a bounded
# time over the committed seed corpus. New inputs go to a scratch directory, not into the tree.
# Usage: fuzz/run-short.sh [seconds per target, default 30] [build dir, default build-fuzz]
# Exits non-zero if a target fails to build or finds a crash, leak or undefined behaviour, or a
# broken promise of connectx() (connectx_call_fuzz; it needs root for its private namespace).
set -eu
secs=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${2:-$src/build-fuzz}
CC=clang CXX=clang++ cmake -S "$src" -B "$build" -DCONNECTX_FUZZ=ON -DCONNECTX_BUILD_TESTS=OFF \
    -DCONNECTX_BUILD_BENCH=OFF -DCONNECTX_BUILD_TOOLS=OFF >/dev/null
cmake --build "$build" -j2 --target netlink_reply_fuzz reserved_ports_fuzz connectx_call_fuzz
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for t in netlink_reply reserved_ports connectx_call; do
    mkdir -p "$scratch/$t"
    echo "== ${t}_fuzz for ${secs}s"
    if ! "$build/fuzz/${t}_fuzz" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
            -artifact_prefix="$scratch/" -print_final_stats=1 \
            "$scratch/$t" "$here/corpus/$t"; then
        echo "${t}_fuzz FAILED; reproducer(s):" >&2
        ls "$scratch"/crash-* "$scratch"/leak-* "$scratch"/timeout-* >&2 2>/dev/null || true
        mkdir -p "$build/fuzz-artifacts" && cp "$scratch"/crash-* "$scratch"/leak-* \
            "$scratch"/timeout-* "$build/fuzz-artifacts/" 2>/dev/null || true
        status=1
    fi
done
exit $status
