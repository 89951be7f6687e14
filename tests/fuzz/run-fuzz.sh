#!/bin/sh

# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

# make fuzz-smoke: runs each libFuzzer harness for SECONDS on a scratch copy
# of its seed corpus (the corpus in the tree is never written) and fails if
# any harness reports a crash, a leak, an ASan or UBSan error, a time-out or
# an exit.  Scratch corpora, logs and crash inputs go to BINDIR/smoke/NAME/.
#
# usage: run-fuzz.sh SECONDS SRCDIR BINDIR NAME...
#   SRCDIR holds corpus/NAME/ and NAME.dict; BINDIR holds the harnesses.
set -u
if [ $# -lt 4 ]; then
	echo "usage: $0 SECONDS SRCDIR BINDIR NAME..." >&2
	exit 64
fi
secs=$1
src=$2
bin=$3
shift 3

# The harnesses never make themselves non-dumpable, so LeakSanitizer works
# here even where a caller (tests/run-suite.sh) turned it off for the
# programs that do.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"
export ASAN_OPTIONS UBSAN_OPTIONS

failed=""
for name in "$@"; do
	work=$bin/smoke/$name
	rm -rf "$work"
	mkdir -p "$work/corpus" "$work/crashes"
	if [ ! -d "$src/corpus/$name" ]; then
		echo "fuzz-smoke: $name: no seed corpus in $src/corpus/$name" >&2
		failed="$failed $name"
		continue
	fi
	cp "$src/corpus/$name"/* "$work/corpus/"
	seeds=$(ls "$work/corpus" | wc -l)
	set -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$work/crashes/"
	[ -f "$src/$name.dict" ] && set -- "$@" -dict="$src/$name.dict"
	echo "fuzz-smoke: $name: ${secs}s from $seeds seeds"
	status=0
	"$bin/$name" "$@" "$work/corpus" >"$work/log" 2>&1 || status=$?
	# The last status line: "#N DONE cov: C ft: F corp: U/S ... exec/s: E rss: R"
	last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$work/log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
	if [ "$status" -ne 0 ] || ! grep -Eq '^#[0-9]+[[:space:]]+DONE' "$work/log"; then
		echo "fuzz-smoke: $name: FAILED (exit $status); log: $work/log" >&2
		tail -n 60 "$work/log" >&2
		ls "$work/crashes" 2>/dev/null | sed "s|^|fuzz-smoke: $name: input: $work/crashes/|" >&2
		failed="$failed $name"
		continue
	fi
	echo "fuzz-smoke: $name: ok, ${runs:-?} runs, ${rate:-?} exec/s, $(echo "$last" |
	    sed 's/^#[0-9]*[[:space:]]*[A-Z]*[[:space:]]*//; s/ *lim:.*//')"
done

if [ -n "$failed" ]; then
	echo "fuzz-smoke: FAILED:$failed" >&2
	exit 1
fi
echo "fuzz-smoke: all passed"
