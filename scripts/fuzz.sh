#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS seconds each, one after the
# other, each in one process at the lowest CPU priority, and prints one
# summary row per target: executions, executions per second, corpus size
# and crashes (files in fuzz/artifacts/<target>/).
#
#   scripts/fuzz.sh SECONDS [TARGET...]     (default: all targets)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# The growing corpus is kept in fuzz/corpus/<target> (not checked in); the
# checked-in seeds in fuzz/seeds/<target> are read at every start. Logs go
# to fuzz/logs/<target>.log.
set -euo pipefail

if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
    echo "usage: $0 SECONDS [TARGET...]" >&2
    exit 2
fi
seconds=$1
shift
cd "$(dirname "$0")/../fuzz"
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(idx model sweep_spec requant netspec onnx topology)
fi

mkdir -p logs
if ! cargo +nightly fuzz build -O >logs/build.log 2>&1; then
    cat logs/build.log >&2
    exit 1
fi
printf '%-11s %8s %12s %9s %7s %8s\n' target seconds executions exec/s corpus crashes
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    status=0
    nice -n 19 cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
        >"logs/$t.log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "logs/$t.log" | tail -1)
    corpus=$(find "corpus/$t" -type f | wc -l)
    crashes=$(find "artifacts/$t" -type f | wc -l)
    printf '%-11s %8s %12s %9s %7s %8s\n' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "$corpus" "$crashes"
    if [[ $status -ne 0 ]]; then
        echo "  $t stopped with status $status: see fuzz/logs/$t.log" >&2
    fi
done
