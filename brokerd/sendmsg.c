/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* libmicrohttpd writes a response's header and body with one sendmsg(2):
 * a plain iovec, no address, no control data, MSG_NOSIGNAL.  sendmsg can
 * also pass descriptors (SCM_RIGHTS) over a unix socket, and a seccomp
 * filter cannot read the message to tell the two apart; brokerd's sessions
 * on the unix socket and its HTTP connections are accepted alike, so the
 * descriptor number cannot tell them apart either.  brokerd's filter
 * therefore allows no sendmsg at all, and libmicrohttpd's calls land here
 * (the program's definition comes before libc's for the libraries it
 * loads) and become the writev(2) they mean: SIGPIPE is ignored in
 * brokerd, so a peer gone gives EPIPE as MSG_NOSIGNAL would.  Anything
 * else is refused, not passed on. */
#include "buildconf.h"

#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/uio.h>

ssize_t
sendmsg(int fd, const struct msghdr *m, int flags)
{
	if (m == NULL || m->msg_name != NULL || m->msg_control != NULL || m->msg_controllen != 0 ||
	    (flags & ~MSG_NOSIGNAL) != 0) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return writev(fd, m->msg_iov, (int)m->msg_iovlen);
}
