/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* brokerd: the service manager's notification protocol (sd_notify(3)),
 * for a Type=notify unit.  Without NOTIFY_SOCKET every call does nothing. */
#ifndef BROKERD_NOTIFY_H
#define BROKERD_NOTIFY_H

#include <stdint.h>

struct broker;

/* At start-up, before the sandbox (which allows no socket and no connect):
 * takes NOTIFY_SOCKET out of the environment and connects to it. */
void notify_open(void);
/* The children run and the listener (or stdio) is open. */
void notify_ready(const struct broker *b);
/* Each turn of the loop: a STATUS= line when the number of sessions has
 * changed, at most once a second. */
void notify_status(const struct broker *b);
/* When notify_status has a change to report later, or -1. */
int64_t notify_next_deadline(void);
/* SIGTERM (or a dead child): the service is going down, and why. */
void notify_stopping(const struct broker *b, const char *why);

#endif
