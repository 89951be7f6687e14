/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Process hardening shared by the three programs. */
#ifndef MAB_PROC_H
#define MAB_PROC_H

/* Not dumpable, no core files, no new privileges, comm set to name.  Called
 * first thing in every main(): nothing secret exists yet. */
void proc_harden(const char *name);
/* For secretd and tokend: die with the parent, and refuse to run detached from
 * the brokerd that spawned us. */
void proc_child_init(const char *name);
/* Closes every descriptor >= lowfd. */
void proc_close_from(int lowfd);
int proc_set_nonblock(int fd);

#endif
