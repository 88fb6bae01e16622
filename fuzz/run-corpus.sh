#!/bin/sh
# Runs every input of the given corpus folders once through its fuzzer,
# as regression tests (no fuzzing).  A folder's name says its fuzzer:
# .../reply runs fuzz_reply, and so on.
#
#   fuzz/run-corpus.sh FUZZ_BIN_DIR CORPUS_ROOT...
#
# e.g. fuzz/run-corpus.sh build/fuzz fuzz/corpus
# Exits 1 if any input crashes or trips a sanitizer.

set -eu

bin=$1
shift

passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for root in "$@"; do
    for dir in "$root"/*/; do
        [ -d "$dir" ] || continue
        name=$(basename "$dir")
        fuzzer=$bin/fuzz_$name

        if [ ! -x "$fuzzer" ]; then
            echo "fuzz: no fuzzer $fuzzer for $dir" >&2
            exit 1
        fi

        for input in "$dir"*; do
            [ -f "$input" ] || continue

            if "$fuzzer" -runs=1 "$input" > "$log" 2>&1; then
                passed=$((passed + 1))
            else
                failed=$((failed + 1))
                echo "fuzz: FAILED $input" >&2
                grep -E 'ERROR:|runtime error:|SUMMARY:|fuzz (shim|check):' \
                    "$log" | grep -v '^INFO' | head -5 >&2 || true
            fi
        done
    done
done

echo "fuzz: $passed inputs passed, $failed failed"

[ "$failed" -eq 0 ]
