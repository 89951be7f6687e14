/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Process hardening shared by the three programs. */
#ifndef MAB_PROC_H
#define MAB_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* Not dumpable, no core files, no new privileges, comm set to name.  Called
 * first thing in every main(): nothing secret exists yet. */
void proc_harden(const char *name);
/* For secretd and tokend: die with the parent, and refuse to run detached from
 * the brokerd that spawned us. */
void proc_child_init(const char *name);
/* Closes every descriptor >= lowfd. */
void proc_close_from(int lowfd);
int proc_set_nonblock(int fd);
/* Reads until end of file or cap bytes, retrying EINTR: the byte count,
 * or -1 on a read error. */
ssize_t proc_read_all(int fd, void *buf, size_t cap);

#endif
