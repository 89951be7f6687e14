#!/bin/sh

# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

# The whole test suite, as CI runs it: the real MCP clients installed with
# npm ci, then a gcc build and a clang build with
# AddressSanitizer and UndefinedBehaviorSanitizer, each running `make check`
# (unit suites and the integration tests), with -Wall -Wextra -Werror; then a
# clang --enable-fuzzing build running `make fuzz-smoke`, and the integration
# tests under valgrind (tests/run-valgrind.sh).
# Builds go to _build/<name> so the source tree stays clean.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

if [ -f config.status ]; then
	echo "run-suite: the source tree is configured in place; running 'make distclean' first" >&2
	make distclean >/dev/null
fi
./autogen.sh >/dev/null 2>&1 || { echo "run-suite: autogen.sh failed" >&2; ./autogen.sh; exit 1; }

# The real MCP clients tests/integration/test_real_clients.py drives (the
# official TypeScript SDK client, the MCP Inspector CLI, ajv): test-only npm
# packages pinned by tests/clients/package-lock.json, installed once for every
# build below.  Without them that test would only be skipped.
command -v npm >/dev/null || {
	echo "run-suite: npm is not installed: the real-client tests need Node.js and npm" >&2
	exit 1
}
mkdir -p "$top/_build"
echo "==> npm ci (tests/clients)"
npm ci --ignore-scripts --no-audit --no-fund --prefix tests/clients >"$top/_build/npm-ci.log" 2>&1 ||
	{ cat "$top/_build/npm-ci.log"; echo "run-suite: npm ci failed" >&2; exit 1; }

pass=0
fail=0
summarise() {
	# automake's test-suite.log header: "# PASS:  N" / "# FAIL:  N" / "# ERROR: N"
	p=$(sed -n 's/^# PASS: *//p' "$1/test-suite.log" | head -1)
	f=$(sed -n 's/^# FAIL: *//p' "$1/test-suite.log" | head -1)
	e=$(sed -n 's/^# ERROR: *//p' "$1/test-suite.log" | head -1)
	pass=$((pass + ${p:-0}))
	fail=$((fail + ${f:-0} + ${e:-0}))
}

build_and_check() {
	name=$1
	shift
	dir="$top/_build/$name"
	echo "==> $name: configure $*"
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@")
	echo "==> $name: make"
	make -C "$dir" -j"$jobs" >"$dir/build.log" 2>&1 || { cat "$dir/build.log"; exit 1; }
	echo "==> $name: make check"
	status=0
	make -C "$dir" -j"$jobs" check || status=$?
	summarise "$dir"
	if [ "$status" -ne 0 ]; then
		for log in "$dir"/tests/*.log "$dir"/tests/integration/*.log; do
			[ -f "$log" ] || continue
			grep -q '^FAIL\|^ERROR' "${log%.log}.trs" 2>/dev/null && { echo "---- $log"; cat "$log"; }
		done
		echo "suite: $pass passed, $fail failed"
		exit 1
	fi
}

build_and_check gcc CC=gcc
# LeakSanitizer needs to ptrace its own process, which PR_SET_DUMPABLE 0
# forbids; leaks are checked by valgrind instead (tests/run-valgrind.sh).
ASAN_OPTIONS=detect_leaks=0
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS UBSAN_OPTIONS
build_and_check clang-asan CC=clang --enable-sanitizers

# A third build, with clang's libFuzzer: make fuzz-smoke runs each harness in
# tests/fuzz for 60 s from its seed corpus and fails on any crash, leak or
# sanitizer report.  It counts as one entry in the summary.
fuzz_smoke() {
	dir="$top/_build/fuzz"
	echo "==> fuzz: configure CC=clang --enable-fuzzing"
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q CC=clang --enable-fuzzing)
	echo "==> fuzz: make"
	make -C "$dir" -j"$jobs" >"$dir/build.log" 2>&1 || { cat "$dir/build.log"; exit 1; }
	echo "==> fuzz: make fuzz-smoke (60 s per harness)"
	if make -C "$dir" fuzz-smoke; then
		pass=$((pass + 1))
		echo "==> fuzz: fuzz-smoke passed"
	else
		fail=$((fail + 1))
		echo "==> fuzz: fuzz-smoke FAILED (crash inputs: $dir/tests/fuzz/smoke/*/crashes/)"
		echo "suite: $pass passed, $fail failed"
		exit 1
	fi
}
fuzz_smoke

# A fourth build under valgrind memcheck (no seccomp: valgrind does not know
# the syscall): the integration scenarios with no error and no definite leak
# in brokerd, secretd or tokend.  One entry in the summary.
echo "==> valgrind: tests/run-valgrind.sh"
if tests/run-valgrind.sh; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
	echo "suite: $pass passed, $fail failed"
	exit 1
fi

echo "suite: $pass passed, $fail failed"
