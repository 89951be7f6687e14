#include "buildconf.h"

#include <errno.h>
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

void
audit_write(const char *event, struct json_object *rec)
{
	char ts[32];
	const char *line;
	size_t len;

	iso8601_utc(wall_s(), ts, sizeof(ts));
	jx_add_str(rec, "ts", ts);
	jx_add_str(rec, "event", event);
	line = jx_text(rec, &len); /* never a record cut short (out of memory) */
	if (audit_fd == -1) {
		log_info("audit: %s", line);
		return;
	}
	/* One write per record so concurrent writers never interleave lines. */
	char *buf = malloc(len + 1);
	if (buf == NULL)
		fatalx("out of memory");
	memcpy(buf, line, len);
	buf[len] = '\n';
	if (write(audit_fd, buf, len + 1) != (ssize_t)(len + 1))
		log_warn("audit write to MCP_AUTH_BROKER_AUDIT_FILE");
	free(buf);
}
