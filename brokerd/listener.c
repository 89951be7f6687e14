/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The unix-socket transport: one listening socket, made by brokerd (--listen
 * PATH) or handed over by systemd (activation.c), and many MCP
 * sessions on it sharing one secretd and one tokend.  Each peer's
 * credentials (SO_PEERCRED) are checked before a byte it sent is read. */
#include "buildconf.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "audit.h"
#include "brokerd.h"
#include "jsonx.h"
#include "log.h"
#include "timeutil.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13; older headers lack the name */
#endif

/* Connections waiting to be accepted while BROKER_MAX_SESSIONS are served. */
#define LISTEN_BACKLOG 64
/* Supplementary groups looked at per peer (NGROUPS_MAX is 65536); a peer in
 * more is judged on its uid and primary group alone. */
#define PEER_MAX_GROUPS 65536u

/* Sessions served at once: BROKER_MAX_SESSIONS, or fewer when RLIMIT_NOFILE
 * is low.  poll(2) fails with EINVAL once its nfds exceeds RLIMIT_NOFILE, and
 * the loop polls BROKER_POLL_FIXED slots plus two per session: with a limit
 * of 32, the 15th session made brokerd die of "poll: Invalid argument"
 * (found by tests/integration/test_faults.py).  Further connections wait in
 * the backlog, as they do at BROKER_MAX_SESSIONS. */
static size_t listener_max_sessions = BROKER_MAX_SESSIONS;

static void
listener_fit_nofile(void)
{
	struct rlimit rl;
	rlim_t fit;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		return;
	fit = rl.rlim_cur > BROKER_POLL_FIXED ? (rl.rlim_cur - BROKER_POLL_FIXED) / 2 : 0;
	if (fit < 1)
		fit = 1;
	if (fit < listener_max_sessions) {
		listener_max_sessions = (size_t)fit;
		log_warnx("RLIMIT_NOFILE is %llu: serving at most %zu sessions at once",
		    (unsigned long long)rl.rlim_cur, listener_max_sessions);
	}
}

bool
listener_has_room(const struct broker *b)
{
	return b->n_sessions < listener_max_sessions;
}

static void __attribute__((noreturn))
listener_fail(const char *path, const char *what)
{
	log_error("cannot listen on %s: %s", path ? path : "(socket activation)", what);
	exit(EX_CONFIG_STATUS);
}

/* ---- a socket of our own ----------------------------------------------- */

static void
listener_address(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (path[0] != '/')
		listener_fail(path, "the path must be absolute");
	if (strlen(path) >= sizeof(sa->sun_path))
		listener_fail(path, "the path is too long for a unix socket");
	memcpy(sa->sun_path, path, strlen(path));
}

/* A socket file left by a brokerd that died is removed; one that something
 * still listens on, or anything that is not a socket, is left alone. */
static void
listener_clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) == -1)
		return;
	if (!S_ISSOCK(st.st_mode))
		listener_fail(path, "it exists and is not a socket");
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		listener_fail(path, "another server is listening on it");
	close(fd);
	if (unlink(path) == -1)
		listener_fail(path, strerror(errno));
	log_info("removed stale socket %s", path);
}

static gid_t
listener_group(const struct config *cfg)
{
	const char *name = cfg->socket_group;
	struct group *gr;
	char *end;
	unsigned long n;

	if (name == NULL)
		return getegid();
	n = strtoul(name, &end, 10);
	if (*end == '\0' && end != name)
		return (gid_t)n;
	if ((gr = getgrnam(name)) == NULL) {
		log_error("configuration: MCP_AUTH_BROKER_SOCKET_GROUP: no group named '%s'", name);
		exit(EX_CONFIG_STATUS);
	}
	return gr->gr_gid;
}

/* Created 0600 (umask), then given its group and 0660: never, even for an
 * instant, connectable by others.  SO_PEERCRED decides who is served. */
static int
listener_make(const struct config *cfg, const char *path, struct stat *bound)
{
	struct sockaddr_un sa;
	gid_t group = listener_group(cfg);
	mode_t old_mask;
	int fd, rc;

	listener_address(path, &sa);
	listener_clear_stale(path, &sa);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		fatal("socket");
	old_mask = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_mask);
	if (rc == -1)
		listener_fail(path, strerror(errno));
	/* What the reaper will check before it removes the path. */
	if (lstat(path, bound) == -1 || !S_ISSOCK(bound->st_mode)) {
		close(fd);
		listener_fail(path, "the socket file changed as it was made");
	}
	if (chown(path, (uid_t)-1, group) == -1 || chmod(path, 0660) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		rc = errno;
		unlink(path);
		listener_fail(path, strerror(rc));
	}
	return fd;
}

void
listener_open(struct broker *b, const char *path, int activated_fd)
{
	struct stat bound;

	b->reaper_pid = -1;
	b->reaper_fd = -1;
	b->listener = activated_fd;
	if (b->listener >= 0 || path != NULL)
		listener_fit_nofile();
	if (path != NULL && (b->listen_path = strdup(path)) == NULL)
		fatalx("out of memory");
	if (b->listener >= 0) {
		/* systemd owns the file: it stays when we stop, so the next
		 * connection starts us again. */
		log_info("listening on the socket systemd passed (socket activation)");
		return;
	}
	if (path == NULL)
		return;
	b->listener = listener_make(&b->cfg, path, &bound);
	b->listen_dev = bound.st_dev;
	b->listen_ino = bound.st_ino;
	b->listen_unlink = true;
	log_info("listening on %s", path);
}

const char *
listener_transports(const struct broker *b)
{
	if (b->http != NULL)
		return b->listener >= 0 ? "a unix socket and HTTP" : "HTTP";
	return b->listener >= 0 ? "a unix socket" : "stdio";
}

void
listener_close(struct broker *b)
{
	if (b->listener < 0)
		return;
	close(b->listener);
	b->listener = -1;
	if (b->listen_unlink) /* brokerd's sandbox allows no unlink: the reaper's job */
		reaper_finish(b);
	b->listen_unlink = false;
}

/* ---- peers ------------------------------------------------------------- */

static bool
id_listed(const unsigned *ids, size_t n, unsigned id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* The peer's supplementary groups, as the kernel recorded them at connect:
 * first their size (ERANGE, with len set), then the groups. */
static bool
peer_groups_allowed(const struct config *cfg, int fd)
{
	socklen_t len = 0;
	gid_t *groups;
	bool found = false;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) == -1 && errno != ERANGE)
		return false;
	if (len == 0 || len > PEER_MAX_GROUPS * sizeof(gid_t) || (groups = malloc(len)) == NULL)
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (size_t i = 0; i < len / sizeof(gid_t) && !found; i++)
			found = id_listed(cfg->allowed_gids, cfg->n_allowed_gids, groups[i]);
	free(groups);
	return found;
}

/* Allowed: a listed uid (none listed: our own), or a listed gid, primary
 * or supplementary. */
static bool
peer_allowed(const struct config *cfg, int fd, const struct ucred *cred)
{
	if (cfg->n_allowed_uids == 0 ? cred->uid == getuid()
				     : id_listed(cfg->allowed_uids,
					   cfg->n_allowed_uids, cred->uid))
		return true;
	if (cfg->n_allowed_gids == 0)
		return false;
	return id_listed(cfg->allowed_gids, cfg->n_allowed_gids, cred->gid) ||
	    peer_groups_allowed(cfg, fd);
}

/* Sessions the peer's uid holds already: one uid must not take every slot
 * (BROKER_MAX_SESSIONS) and so lock out every other client. */
static bool
peer_over_uid_cap(const struct broker *b, uid_t uid)
{
	long n = 0;

	for (const struct session *s = b->sessions; s != NULL; s = s->next)
		if (s->transport == SESSION_UNIX && s->peer_uid == uid)
			n++;
	return n >= b->cfg.max_sessions_per_uid;
}

/* One JSON-RPC error, then the connection is closed.  The socket is fresh,
 * so the one short write fits its buffer. */
static void
listener_refuse(int fd, const struct ucred *cred, const char *message, const char *detail)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();
	struct json_object *data = json_object_new_object();
	char sink[4096];
	const char *text;
	size_t len;

	jx_add_str(data, "detail", detail);
	jx_add_int(e, "code", -32600);
	jx_add_str(e, "message", message);
	jx_add(e, "data", data);
	jx_add_str(o, "jsonrpc", "2.0");
	jx_add(o, "id", NULL);
	jx_add(o, "error", e);
	text = json_object_to_json_string_length(o, JX_PLAIN, &len);
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		log_warn("writing the refusal to uid %u", (unsigned)cred->uid);
	json_object_put(o);
	/* Read what the peer may already have sent, so the close is orderly
	 * and the refusal is what it reads. */
	for (int i = 0; i < 16 && read(fd, sink, sizeof(sink)) > 0; i++)
		;
	close(fd);
}

static void
listener_audit_refusal(const struct ucred *cred, const char *reason)
{
	struct json_object *rec = json_object_new_object();

	jx_add_str(rec, "transport", "unix");
	jx_add_int(rec, "peer_uid", (int64_t)cred->uid);
	jx_add_int(rec, "peer_gid", (int64_t)cred->gid);
	jx_add_int(rec, "peer_pid", (int64_t)cred->pid);
	jx_add_str(rec, "outcome", "refused");
	jx_add_str(rec, "reason", reason);
	audit_write("session_refused", rec);
	json_object_put(rec);
}

static void
listener_admit(struct broker *b, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct session *s;
	char detail[160];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("SO_PEERCRED");
		close(fd);
		return;
	}
	if (!peer_allowed(&b->cfg, fd, &cred)) {
		log_warnx("refused unix peer uid %u gid %u pid %ld", (unsigned)cred.uid,
		    (unsigned)cred.gid, (long)cred.pid);
		snprintf(detail, sizeof(detail),
		    "peer uid %u gid %u is not allowed (MCP_AUTH_BROKER_ALLOWED_UIDS, "
		    "MCP_AUTH_BROKER_ALLOWED_GIDS)",
		    (unsigned)cred.uid, (unsigned)cred.gid);
		listener_audit_refusal(&cred, "peer not allowed");
		listener_refuse(fd, &cred, "Forbidden", detail);
		return;
	}
	if (peer_over_uid_cap(b, cred.uid)) {
		log_warnx("refused unix peer uid %u pid %ld: it holds %ld sessions already",
		    (unsigned)cred.uid, (long)cred.pid, b->cfg.max_sessions_per_uid);
		snprintf(detail, sizeof(detail),
		    "uid %u holds %ld sessions already (MCP_AUTH_BROKER_MAX_SESSIONS_PER_UID)",
		    (unsigned)cred.uid, b->cfg.max_sessions_per_uid);
		listener_audit_refusal(&cred, "too many sessions for this uid");
		listener_refuse(fd, &cred, "Too many sessions", detail);
		return;
	}
	s = session_new(b, SESSION_UNIX, fd, fd);
	s->peer_uid = cred.uid;
	s->peer_pid = cred.pid;
	log_info("session %u: unix peer uid %u pid %ld", s->id, (unsigned)cred.uid, (long)cred.pid);
}

void
listener_accept(struct broker *b)
{
	int fd;

	while (b->listener >= 0 && listener_has_room(b)) {
		fd = accept4(b->listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (fd == -1 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
				    errno == ENOMEM)) {
			/* Waiting connections stay in the backlog; polling the
			 * listener meanwhile would spin. */
			log_warn("accept: pausing new sessions for a second");
			b->accept_resume_ms = mono_ms() + 1000;
			return;
		}
		if (fd == -1)
			fatal("accept4");
		listener_admit(b, fd);
	}
}
