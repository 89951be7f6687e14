/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Logging: one API for all three processes, stderr only (stdout is the MCP
 * channel), the process name and pid in every line.  Never pass secret bytes,
 * tokens or whole request bodies to these functions. */
#ifndef MAB_LOG_H
#define MAB_LOG_H

#include <stdarg.h>
#include <sys/types.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_init(const char *procname, enum log_level level);
void log_set_level(enum log_level level);
int log_level_parse(const char *s, enum log_level *out);
const char *log_procname(void);
/* getpid(), cached (and forgotten in a forked child). */
pid_t log_pid(void);

/* log_warn appends strerror(errno); log_warnx does not.  Likewise fatal/fatalx,
 * which exit with status 1 (or the status given to fatalx_status). */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
