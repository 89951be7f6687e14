/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The listening sockets systemd passed (sd_listen_fds(3), Accept=no): one
 * parser for both transports.  A descriptor named "http"
 * (FileDescriptorName=http) is the Streamable HTTP socket and must be a
 * listening TCP socket; any other name is the unix socket.  A unit may
 * pass either or both, never two of one kind. */
#include "buildconf.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "brokerd.h"
#include "log.h"

/* sd_listen_fds(3): the first passed descriptor. */
#define SD_LISTEN_FDS_START 3
/* The unix socket and the TCP one. */
#define ACTIVATION_MAX_FDS 2
/* FileDescriptorName= is at most 255 characters (systemd.socket(5)). */
#define FDNAME_MAX 256

static void __attribute__((noreturn))
activation_fail(const char *what, int fd)
{
	if (fd >= 0)
		log_error("socket activation: descriptor %d: %s", fd, what);
	else
		log_error("socket activation: %s", what);
	exit(EX_CONFIG_STATUS);
}

/* The name of the i-th passed descriptor (LISTEN_FDNAMES is colon-separated;
 * missing names are ""). */
static void
activation_name(const char *names, int i, char *out, size_t len)
{
	const char *p = names, *end;

	out[0] = '\0';
	while (p != NULL && i-- > 0)
		if ((p = strchr(p, ':')) != NULL)
			p++;
	if (p == NULL)
		return;
	end = strchr(p, ':');
	if (end == NULL)
		end = p + strlen(p);
	if ((size_t)(end - p) >= len)
		activation_fail("a FileDescriptorName= too long", SD_LISTEN_FDS_START + i);
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
}

/* The socket's family if it is a listening stream socket, else -1. */
static int
activation_family(int fd)
{
	int type = 0, listening = 0;
	socklen_t len = sizeof(int);
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 || type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == -1 || !listening ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen) == -1)
		return -1;
	return sa.ss_family;
}

static void
activation_assign(struct activated *a, int fd, const char *name)
{
	int family = activation_family(fd);
	bool http = strcmp(name, "http") == 0;
	int *slot = http ? &a->http_fd : &a->unix_fd;

	if (http && family != AF_INET && family != AF_INET6)
		activation_fail("named http (FileDescriptorName=http) but not a listening TCP socket",
		    fd);
	if (!http && family != AF_UNIX)
		activation_fail("not a listening unix stream socket (a TCP socket needs "
				"FileDescriptorName=http)",
		    fd);
	if (*slot >= 0)
		activation_fail(http ? "a second socket named http"
				     : "a second unix socket (one ListenStream= path)",
		    fd);
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		fatal("fcntl on the activated socket");
	*slot = fd;
}

void
activation_take(struct activated *a)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	char name[FDNAME_MAX], *end;
	long n;

	a->unix_fd = a->http_fd = -1;
	if (pid == NULL || fds == NULL || strtol(pid, NULL, 10) != (long)getpid())
		return;
	n = strtol(fds, &end, 10);
	if (end == fds || *end != '\0' || n < 1 || n > ACTIVATION_MAX_FDS)
		activation_fail("LISTEN_FDS must be 1 or 2: the unix socket, a TCP socket with "
				"FileDescriptorName=http, or both (Accept=no)",
		    -1);
	for (int i = 0; i < (int)n; i++) {
		activation_name(names, i, name, sizeof(name));
		activation_assign(a, SD_LISTEN_FDS_START + i, name);
	}
	/* No child ever sees them. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}
