/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* seccomp filters (STYLE.md: tables grouped by purpose, a comment per
 * group): allowlists whose default action kills the process, and one
 * denylist for a secretd that runs programs.  ./configure
 * --enable-seccomp-debug makes a violation report the syscall instead. */
#ifndef MAB_SANDBOX_H
#define MAB_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Sanitizer builds (tests only): their runtime needs a little more of the
 * filters, and their options must reach the children. */
#if defined(__SANITIZE_ADDRESS__)
#define MAB_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MAB_SANITIZED 1
#endif
#endif

enum sandbox_profile {
	SANDBOX_BROKERD, /* no network sockets, no execve, no new processes */
	/* network, read-only opens (Landlock: beneath /etc, /usr, /lib only),
	 * threads but no processes, no execve */
	SANDBOX_TOKEND,
	/* secretd, whatever its provider: no network, read-only opens, no
	 * processes, no execve */
	SANDBOX_SECRETD,
	/* secretd's launcher, which runs op or a command helper; they inherit
	 * the filter across execve: everything but looking into other
	 * processes, kernel and system state, namespaces and mounts, and
	 * kernel interfaces no secret helper needs (a denylist: op's needs are
	 * op's) */
	SANDBOX_SECRETD_HELPER,
	/* brokerd's socket reaper (brokerd/reaper.c): reads a pipe to its end,
	 * then lstat and unlink; nothing else, not even a write */
	SANDBOX_SOCKET_REAPER,
};

/* Loads the filter for profile; fatal on failure.  Everything that needs a
 * forbidden call (opening files for writing, spawning) must happen before. */
void sandbox_enter(enum sandbox_profile profile);
/* SANDBOX_BROKERD, once its children run: kill(2) may reach those n pids
 * and no other process (sandbox_enter(SANDBOX_BROKERD) allows no kill),
 * and F_SETFL may change any descriptor's flags but audit_fd's (the audit
 * sink, whose O_APPEND must stay). */
void sandbox_enter_brokerd(const pid_t *children, size_t n, int audit_fd);
const char *sandbox_profile_name(enum sandbox_profile profile);
/* False in a --disable-seccomp build. */
bool sandbox_available(void);
/* The kernel's Landlock ABI version, 0 without Landlock.  tokend, once
 * sandboxed, may read files only beneath /etc, /usr, /lib and /lib64. */
int sandbox_landlock_abi(void);

#endif
