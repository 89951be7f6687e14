/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *log_name = "mcp-auth-broker";
static enum log_level log_threshold = LOG_LEVEL_INFO;
/* Our pid, for every log line and audit record: glibc's getpid is a system
 * call each time (it no longer caches), one per audit record.  A child
 * made by fork (the reaper, secretd's helpers) logs before it execs, so
 * fork clears the cache in the child. */
static pid_t log_cached_pid;
static bool log_atfork_set;

static void
log_forget_pid(void)
{
	log_cached_pid = 0;
}

pid_t
log_pid(void)
{
	if (log_cached_pid != 0)
		return log_cached_pid;
	return log_atfork_set ? (log_cached_pid = getpid()) : getpid();
}

void
log_init(const char *procname, enum log_level level)
{
	log_name = procname;
	log_threshold = level;
	/* Only when the handler is in place is a cached pid safe to keep. */
	if (!log_atfork_set && pthread_atfork(NULL, NULL, log_forget_pid) == 0)
		log_atfork_set = true;
	log_cached_pid = 0;
}

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

const char *
log_procname(void)
{
	return log_name;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{ "error", LOG_LEVEL_ERROR },
		{ "warn", LOG_LEVEL_WARN },
		{ "warning", LOG_LEVEL_WARN },
		{ "info", LOG_LEVEL_INFO },
		{ "debug", LOG_LEVEL_DEBUG },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	return -1;
}

/* One write(2) per line so that lines from the three processes sharing
 * stderr do not interleave. */
static void log_vemit(enum log_level level, const char *tag, int errnum, const char *fmt,
    va_list ap) __attribute__((format(printf, 4, 0)));

static void
log_vemit(enum log_level level, const char *tag, int errnum, const char *fmt, va_list ap)
{
	char line[2048];
	int n;
	size_t len;

	if (level > log_threshold)
		return;
	n = snprintf(line, sizeof(line), "%s[%ld]: %s: ", log_name, (long)log_pid(), tag);
	if (n < 0)
		return;
	len = (size_t)n;
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n < 0)
		return;
	len += (size_t)n;
	if (len >= sizeof(line) - 1)
		len = sizeof(line) - 2;
	if (errnum != 0) {
		n = snprintf(line + len, sizeof(line) - len, ": %s", strerror(errnum));
		if (n > 0)
			len += (size_t)n;
		if (len >= sizeof(line) - 1)
			len = sizeof(line) - 2;
	}
	/* Control characters from untrusted input must not forge log lines. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x20 || c == 0x7f)
			line[i] = '?';
	}
	line[len++] = '\n';
	(void)!write(STDERR_FILENO, line, len);
}

#define LOG_FN(name, level, tag, with_errno)                                                     \
	void name(const char *fmt, ...)                                                          \
	{                                                                                        \
		int saved = errno;                                                               \
		va_list ap;                                                                      \
		va_start(ap, fmt);                                                               \
		log_vemit(level, tag, (with_errno) ? saved : 0, fmt, ap);                        \
		va_end(ap);                                                                      \
		errno = saved;                                                                   \
	}

LOG_FN(log_info, LOG_LEVEL_INFO, "info", 0)
LOG_FN(log_warn, LOG_LEVEL_WARN, "warning", 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, "warning", 0)
LOG_FN(log_error, LOG_LEVEL_ERROR, "error", 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, "debug", 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LEVEL_ERROR, "fatal", saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LEVEL_ERROR, "fatal", 0, fmt, ap);
	va_end(ap);
	exit(1);
}
