/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#ifndef MAB_TIMEUTIL_H
#define MAB_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Monotonic milliseconds: for deadlines and timers. */
int64_t mono_ms(void);
/* Wall-clock seconds: for expiry times shown to clients and operators. */
int64_t wall_s(void);
/* "2026-11-23T10:00:00Z" into out (at least 21 bytes). */
void iso8601_utc(int64_t epoch_s, char *out, size_t len);
/* Milliseconds until deadline for poll(2): -1 (none), 0 (due) or positive. */
int poll_timeout_ms(int64_t deadline_ms);

#endif
