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

int
audit_write(const char *event, struct json_object *rec)
{
	char ts[32], prefix[64];
	const char *line, *sink;
	size_t len, plen = 0, off, done;
	char *buf;
	int fd, rc, n;

	iso8601_utc(wall_s(), ts, sizeof(ts));
	jx_add_str(rec, "ts", ts);
	jx_add_str(rec, "event", event);
	line = jx_text(rec, &len); /* never a record cut short (out of memory) */
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
