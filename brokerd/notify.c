/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The service manager's notification protocol, as sd_notify(3) documents
 * it: newline-separated VARIABLE=value lines in one datagram to the
 * AF_UNIX socket named by NOTIFY_SOCKET (a path, or '@' for an abstract
 * name).  Written here in a few lines rather than linking libsystemd,
 * because of the order brokerd's sandbox imposes: its filter allows no
 * socket(2), no connect(2) and no sendto(2) with an address once loaded,
 * so the socket is made and connected at start-up and later messages are
 * plain send(2)s on it. */
#include "buildconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "brokerd.h"
#include "log.h"
#include "notify.h"
#include "timeutil.h"

/* STATUS= follows the number of sessions, but at most this often: a
 * client that connects for every call must not turn into a message per
 * call to the service manager. */
#define NOTIFY_STATUS_INTERVAL_MS 1000

static int notify_fd = -1;
static size_t notify_reported = (size_t)-1; /* sessions in the last STATUS= */
static int64_t notify_last_ms;
static int64_t notify_pending_ms = -1; /* a change waits for the interval */

/* NOTIFY_SOCKET into a sockaddr_un; its length, or 0 when unusable. */
static socklen_t
notify_address(const char *name, struct sockaddr_un *sun)
{
	size_t len = strlen(name);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if ((name[0] != '/' && name[0] != '@') || len < 2 || len >= sizeof(sun->sun_path))
		return 0;
	memcpy(sun->sun_path, name, len);
	if (name[0] == '@')
		sun->sun_path[0] = '\0'; /* abstract: the length, not a NUL, ends it */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

void
notify_open(void)
{
	const char *env = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	char *name;

	if (env == NULL)
		return;
	if ((name = strdup(env)) == NULL)
		fatalx("out of memory");
	/* Nothing brokerd starts may speak for the service. */
	unsetenv("NOTIFY_SOCKET");
	if ((len = notify_address(name, &sun)) == 0)
		log_warnx("NOTIFY_SOCKET '%s' is not a socket path or abstract name: not notifying",
		          name);
	else if ((notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		log_warn("NOTIFY_SOCKET: socket");
	else if (connect(notify_fd, (struct sockaddr *)&sun, len) == -1) {
		log_warn("NOTIFY_SOCKET %s: connect", name);
		close(notify_fd);
		notify_fd = -1;
	}
	free(name);
}

/* One datagram; a service manager that has gone away is not brokerd's
 * problem, so a failure is logged and otherwise ignored. */
static void __attribute__((format(printf, 1, 2))) notify_send(const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	int n;

	if (notify_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		fatalx("notify message too long");
	if (send(notify_fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
		log_warn("NOTIFY_SOCKET: send");
}

static size_t
notify_calls(const struct broker *b)
{
	size_t n = 0;

	for (const struct call *c = b->calls; c != NULL; c = c->next)
		n++;
	return n;
}

static void
notify_report(const struct broker *b)
{
	notify_send("STATUS=serving %zu session%s, %zu call%s in flight", b->n_sessions,
	            b->n_sessions == 1 ? "" : "s", notify_calls(b),
	            notify_calls(b) == 1 ? "" : "s");
	notify_reported = b->n_sessions;
	notify_last_ms = mono_ms();
	notify_pending_ms = -1;
}

void
notify_ready(const struct broker *b)
{
	notify_send("READY=1\nSTATUS=serving MCP on %s (tenant %s)",
	            listener_transports(b), b->cfg.tenant_id);
	notify_reported = b->n_sessions;
	notify_last_ms = mono_ms();
}

void
notify_status(const struct broker *b)
{
	int64_t now;

	if (notify_fd < 0 || b->stopping)
		return;
	if (b->n_sessions == notify_reported) {
		notify_pending_ms = -1; /* back to what was reported */
		return;
	}
	now = mono_ms();
	if (now - notify_last_ms >= NOTIFY_STATUS_INTERVAL_MS)
		notify_report(b);
	else if (notify_pending_ms < 0)
		notify_pending_ms = notify_last_ms + NOTIFY_STATUS_INTERVAL_MS;
}

int64_t
notify_next_deadline(void)
{
	return notify_pending_ms;
}

void
notify_stopping(const struct broker *b, const char *why)
{
	notify_send("STOPPING=1\nSTATUS=stopping (%s): %zu call%s in flight", why, notify_calls(b),
	            notify_calls(b) == 1 ? "" : "s");
	notify_pending_ms = -1;
}
