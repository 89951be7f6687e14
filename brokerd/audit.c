/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "jsonx.h"
#include "log.h"
#include "timeutil.h"

static int audit_fd = -1;

void
audit_open(const struct config *cfg)
{
	struct stat st;

	if (cfg->audit_file == NULL)
		return;
	/* 0600: audit records name requesters and the paths they asked for.
	 * Not a symbolic link, and O_NONBLOCK so that a FIFO nobody reads is
	 * refused rather than waited on. */
	audit_fd = open(cfg->audit_file,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (audit_fd == -1) {
		log_error("configuration: MCP_AUTH_BROKER_AUDIT_FILE: cannot open %s: %s",
		    cfg->audit_file, strerror(errno));
		_exit(EX_CONFIG_STATUS);
	}
	/* A record is a file's line: not a device, a FIFO or a socket. */
	if (fstat(audit_fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		log_error("configuration: MCP_AUTH_BROKER_AUDIT_FILE: %s is not a regular file",
		    cfg->audit_file);
		_exit(EX_CONFIG_STATUS);
	}
}

int
audit_sink_fd(void)
{
	return audit_fd != -1 ? audit_fd : STDERR_FILENO;
}

/* Why the last record could not be written ("" while it was). */
static char audit_failure[160];
/* The last write stopped inside a line: the next record starts on a new
 * line, so the fragment never swallows it. */
static bool audit_torn;

const char *
audit_broken(void)
{
	return audit_failure[0] != '\0' ? audit_failure : NULL;
}

/* The whole of buf or -1: a short write (a full disk, RLIMIT_FSIZE) is
 * continued until it fails; what it left is a torn line. */
static int
audit_write_all(int fd, const char *buf, size_t len, size_t *done)
{
	ssize_t n;

	*done = 0;
	while (*done < len) {
		n = write(fd, buf + *done, len - *done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		*done += (size_t)n;
	}
	return 0;
}

static void
audit_note_failure(const char *sink, int errnum, size_t done)
{
	bool first = audit_failure[0] == '\0';

	snprintf(audit_failure, sizeof(audit_failure), "%s: %s%s", sink, strerror(errnum),
	    done > 0 ? " (record cut short)" : "");
	if (done > 0)
		audit_torn = true;
	/* Once per failure, not once per refused call. */
	if (first)
		log_error("audit log cannot be written: %s; tool calls are refused until "
			  "a record is written again",
		    audit_failure);
}

/* The time stamp of a record: formatted again only when the second changes
 * (gmtime and strftime were a tenth of a record's cost). */
static const char *
audit_ts(void)
{
	static int64_t last = -1;
	static char ts[32];
	int64_t now = wall_s();

	if (now != last) {
		iso8601_utc(now, ts, sizeof(ts));
		last = now;
	}
	return ts;
}

/* Writes one record's text (without its newline) to the sink: 0, or -1
 * when it could not be written whole. */
static int
audit_emit(const char *line, size_t len)
{
	char prefix[64];
	const char *sink;
	size_t plen = 0, off, done;
	char *buf;
	int fd, rc, n;

	fd = audit_fd != -1 ? audit_fd : STDERR_FILENO;
	sink = audit_fd != -1 ? "MCP_AUTH_BROKER_AUDIT_FILE" : "stderr";
	if (audit_fd == -1) {
		/* The log line's format (README, Audit), whatever the log level:
		 * a record is not a log line. */
		n = snprintf(prefix, sizeof(prefix), "%s[%ld]: info: audit: ", log_procname(),
		    (long)log_pid());
		plen = n > 0 && (size_t)n < sizeof(prefix) ? (size_t)n : 0;
	}
	off = audit_torn ? 1 : 0;
	/* One write per record so concurrent writers never interleave lines. */
	if ((buf = malloc(off + plen + len + 1)) == NULL)
		fatalx("out of memory");
	buf[0] = '\n';
	memcpy(buf + off, prefix, plen);
	memcpy(buf + off + plen, line, len);
	buf[off + plen + len] = '\n';
	rc = audit_write_all(fd, buf, off + plen + len + 1, &done);
	if (rc == -1) {
		audit_note_failure(sink, errno, done);
	} else {
		if (audit_failure[0] != '\0')
			log_warnx("audit log written again after: %s", audit_failure);
		audit_failure[0] = '\0';
		audit_torn = false;
	}
	free(buf);
	return rc;
}

int
audit_write(const char *event, struct json_object *rec)
{
	const char *line;
	size_t len;

	jx_add_str(rec, "ts", audit_ts());
	jx_add_str(rec, "event", event);
	line = jx_text(rec, &len); /* never a record cut short (out of memory) */
	return audit_emit(line, len);
}

/* ---- records built as text (a tool call's, one per call) ---------------- */

static void
audit_line_raw(struct audit_line *l, const char *p, size_t n)
{
	if (buf_append(&l->b, p, n) == -1)
		fatalx("out of memory");
}

/* A JSON string as json-c writes it with JX_PLAIN: '"' and '\\' escaped,
 * \b \f \n \r \t, other control characters as \u00XX, '/' and the rest
 * as they are; runs of plain bytes are copied whole. */
static void
audit_line_string(struct audit_line *l, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *run = p;
	char esc[6] = { '\\', 'u', '0', '0', 0, 0 };

	audit_line_raw(l, "\"", 1);
	for (;; p++) {
		unsigned char c = *p;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		audit_line_raw(l, (const char *)run, (size_t)(p - run));
		if (c == '\0')
			break;
		run = p + 1;
		esc[1] = c == '"' ? '"' : c == '\\' ? '\\' : c == '\b' ? 'b' : c == '\f' ? 'f' :
		    c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : 'u';
		if (esc[1] != 'u') {
			audit_line_raw(l, esc, 2);
		} else {
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			audit_line_raw(l, esc, 6);
		}
	}
	audit_line_raw(l, "\"", 1);
}

/* ,"key": (the first member has no comma) */
static void
audit_line_key(struct audit_line *l, const char *key)
{
	if (l->b.len > 1)
		audit_line_raw(l, ",", 1);
	audit_line_raw(l, "\"", 1);
	audit_line_raw(l, key, strlen(key));
	audit_line_raw(l, "\":", 2);
}

void
audit_line_begin(struct audit_line *l, const char *members, size_t len)
{
	buf_init(&l->b);
	audit_line_raw(l, "{", 1);
	audit_line_raw(l, members, len);
}

void
audit_line_str(struct audit_line *l, const char *key, const char *v)
{
	audit_line_key(l, key);
	if (v == NULL)
		audit_line_raw(l, "null", 4);
	else
		audit_line_string(l, v);
}

void
audit_line_int(struct audit_line *l, const char *key, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", (long long)v);

	audit_line_key(l, key);
	audit_line_raw(l, num, (size_t)n);
}

int
audit_line_write(struct audit_line *l, const char *event)
{
	int rc;

	audit_line_str(l, "ts", audit_ts());
	audit_line_str(l, "event", event);
	audit_line_raw(l, "}", 1);
	rc = audit_emit((const char *)buf_head(&l->b), buf_avail(&l->b));
	buf_free(&l->b);
	return rc;
}
