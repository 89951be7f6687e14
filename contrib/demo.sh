#!/bin/sh

# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

# The broker's main job on its built-in default (MCP_AUTH_BROKER_ENV=smoke):
# build, install into _build/demo/inst, and run a short scripted MCP session
# against the installed brokerd, printing every message exchanged.  The
# installed brokerd finds secretd and tokend in its own libexecdir, with no
# environment variable telling it where.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
dir="$top/_build/demo"

if [ -f config.status ]; then
	echo "demo: the source tree is configured in place; running 'make distclean' first" >&2
	make distclean >/dev/null
fi
./autogen.sh >/dev/null 2>&1 || ./autogen.sh
mkdir -p "$dir"
cd "$dir"
[ -f Makefile ] || "$top/configure" -q --prefix="$dir/inst"
make -j"$(nproc 2>/dev/null || echo 2)" install >build.log 2>&1 || { cat build.log; exit 1; }
unset MCP_AUTH_BROKER_LIBEXECDIR
exec python3 "$top/contrib/mcp-session-demo.py" "$dir/inst/bin/brokerd"
