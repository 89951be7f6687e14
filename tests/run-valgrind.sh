#!/bin/sh

# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

# The integration tests with brokerd, secretd and tokend under valgrind
# memcheck: no errors and no definite leaks in any of the three.  valgrind
# does not know the seccomp syscall, so this build is configured with
# --disable-seccomp; the filters are tested by the other builds.
set -eu
# Arguments, if any, name the test files to run (default: all of them).
only="$*"
cd "$(dirname "$0")/.."
top=$(pwd)
dir="$top/_build/valgrind"
logs="$dir/valgrind-logs"

command -v valgrind >/dev/null || { echo "run-valgrind: valgrind is not installed" >&2; exit 1; }
[ -x configure ] || ./autogen.sh >/dev/null 2>&1
rm -rf "$dir"
mkdir -p "$dir" "$logs"
# MAB_JOBS: parallel compile jobs (default: every CPU).
(cd "$dir" && "$top/configure" -q --disable-seccomp CFLAGS="-g -O1") 2>&1 | grep -v "WITHOUT seccomp" || true
make -C "$dir" -j"${MAB_JOBS:-$(nproc 2>/dev/null || echo 2)}" >"$dir/build.log" 2>&1 || { cat "$dir/build.log"; exit 1; }

# valgrind follows brokerd into secretd and tokend but must not follow the
# helpers the tests stage (fake op, command helpers): they live in the
# tests' scratch directories (tests/stage/mab-*), and python under memcheck
# takes longer than secretd's helper timeout.
MAB_WRAPPER="valgrind -q --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite --trace-children=yes --trace-children-skip=/usr/*,/bin/*,/sbin/*,/tmp/*,*/mab-*,*fake-op* --child-silent-after-fork=yes --log-file=$logs/%p.log"
MAB_BUILDDIR=$dir
MAB_SRCDIR=$top
export MAB_WRAPPER MAB_BUILDDIR MAB_SRCDIR

status=0
# Which files run here, and why each other one does not, is the README's
# table (section Valgrind), which tests/integration/test_valgrind_list.py
# holds to this list.
# Every scenario that runs the real processes; the names and descriptor
# checks of ProcessModelTests see valgrind's process, not ours, and stay in
# the other builds.
# Timing-bound classes (memory limits, slow endpoints) stay in the other
# builds too: valgrind slows every process tenfold.
for t in "test_stdio.py InitializeTests ToolsListTests JsonRpcErrorTests ExecuteTests DescribeTests ConcurrencyTests OutputHygieneTests ShutdownTests" \
	"test_child_death.py" "test_config_exit.py" \
	"test_transport.py SocketTests BridgeTests PeerCredentialTests CancellationTests ShutdownTests" \
	"test_era_2026.py" "test_operator.py" \
	"test_secretd_providers.py" \
	"test_tokend_http.py WireTests AuthFailureTests" \
	"test_graph_bodies.py" "test_policy_graph.py" "test_audit.py" \
	"test_certificate.py CertificateLogin SecretdMonitor" "test_systemd.py NotifyTests" \
	"test_managed_identity.py ImdsLogin AgentLogin" \
	"test_federated.py FederatedLogin FederatedFile SecretdMonitor" \
	"test_oauth.py MetadataTests TokenTests HybridTests RoleTests" \
	"test_http.py SessionTests RefusalTests ApiKeyTests"; do
	set -- $t
	file=$1
	shift
	if [ -n "$only" ] && ! echo " $only " | grep -q " $file "; then continue; fi
	[ -f "$top/tests/integration/$file" ] || continue
	echo "==> valgrind: $file $*"
	python3 "$top/tests/integration/$file" "$@" >"$logs/$file.out" 2>&1 || {
		status=1
		echo "FAIL: $file"
		tail -30 "$logs/$file.out"
	}
done

# With -q valgrind writes only errors; any non-empty log is a finding.
bad=0
# valgrind does not know mlock2 (325), which OpenSSL's secure heap tries
# first (secretd, certificate credential): it answers ENOSYS and OpenSSL
# falls back to mlock.  That warning block alone is not a finding; any other
# unhandled syscall still names itself and is.
findings() {
	grep -v -e '^--[0-9]*-- WARNING: unhandled amd64-linux syscall: 325$' \
		-e '^--[0-9]*-- You may be able to write your own handler\.$' \
		-e '^--[0-9]*-- Read the file README_MISSING_SYSCALL_OR_IOCTL\.$' \
		-e '^--[0-9]*-- Nevertheless we consider this a bug\.  Please report$' \
		-e '^--[0-9]*-- it at http://valgrind.org/support/bug_reports.html\.$' "$1"
}
for log in "$logs"/*.log; do
	[ -s "$log" ] || continue
	findings "$log" >/dev/null || continue
	echo "---- $log"
	cat "$log"
	bad=$((bad + 1))
done
runs=$(ls "$logs"/*.log 2>/dev/null | wc -l)
echo "valgrind: $runs processes checked, $bad with errors or definite leaks"
[ "$bad" -eq 0 ] && [ "$status" -eq 0 ]
