/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* brokerd: start-up, the children, and the event loop. */
#include "buildconf.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "bearer.h"
#include "brokerd.h"
#include "http_request.h"
#include "jsonx.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "proc.h"
#include "sandbox.h"
#include "secretenv.h"
#include "timeutil.h"

#define EX_USAGE_STATUS 64
#define EX_OSERR_STATUS 71

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: brokerd [--listen PATH] [--http HOST:PORT]\n"
	    "       brokerd --connect PATH\n"
	    "       brokerd --check [--json] [--http HOST:PORT]\n"
	    "       brokerd --ready [--json] [--http HOST:PORT]\n"
	    "       brokerd --health | --smoke-e2e | --tools\n"
	    "       brokerd --help | --version\n"
	    "\n"
	    "Serves MCP (newline-delimited JSON-RPC 2.0) and brokers Microsoft Graph\n"
	    "calls through its children secretd and tokend: on stdin/stdout, or with\n"
	    "--listen (or systemd socket activation) to many clients on a unix socket,\n"
	    "all sharing one token cache.  Configuration comes from MCP_AUTH_BROKER_*\n"
	    "environment variables; see brokerd(8) and mcp-auth-broker.conf(5).\n"
	    "MCP_AUTH_BROKER_ENV defaults to smoke: deterministic built-in providers,\n"
	    "no Azure and no 1Password.\n"
	    "\n"
	    "  -l, --listen PATH   serve MCP on a unix socket created at PATH (0660);\n"
	    "                      peers are checked against MCP_AUTH_BROKER_ALLOWED_UIDS\n"
	    "                      and MCP_AUTH_BROKER_ALLOWED_GIDS\n"
	    "      --http HOST:PORT serve MCP Streamable HTTP at http://HOST:PORT/mcp;\n"
	    "                      callers per MCP_AUTH_BROKER_AUTH_MODE (none: loopback\n"
	    "                      only; api_key: MCP_AUTH_BROKER_API_KEYS_FILE; oauth:\n"
	    "                      bearer tokens; hybrid: either); also\n"
	    "                      GET /health, /ready and /metrics (MCP_AUTH_BROKER_\n"
	    "                      HTTP_METRICS); with --check or --ready: the address\n"
	    "                      is checked, nothing is served; with --listen too,\n"
	    "                      both are served, sharing the children and cache\n"
	    "  -c, --connect PATH  bridge stdin/stdout to the brokerd listening on PATH\n"
	    "                      (what an MCP client launches); reads no configuration\n"
	    "      --check         check what can be checked without starting anything\n"
	    "                      (configuration, secret provider, the children's\n"
	    "                      programs, seccomp, CA and audit files; with --http,\n"
	    "                      whether that address may serve), one line each:\n"
	    "                      ok, warn or fail, what, why and what to do\n"
	    "      --health        start the broker with this configuration, check it as\n"
	    "                      an MCP client (initialize, ping, tools/list, the\n"
	    "                      token state from tokend), print one line per check\n"
	    "      --ready         start secretd and tokend with this configuration and\n"
	    "                      have tokend obtain a token for each allowed resource\n"
	    "                      (secret resolved, login endpoint asked; no Graph\n"
	    "                      call), print one line per resource and whether the\n"
	    "                      token's roles match MCP_AUTH_BROKER_ALLOWED_SCOPES;\n"
	    "                      with OAuth callers, whether tokend fetched the\n"
	    "                      issuer's key set\n"
	    "      --json          with --check or --ready: the same as one JSON document\n"
	    "      --smoke-e2e     the checks of --health in smoke mode\n"
	    "                      (MCP_AUTH_BROKER_ENV=smoke, the rest of the\n"
	    "                      configuration as set), plus Graph calls: minted\n"
	    "                      token, cached token, a policy denial\n"
	    "      --tools         print the MCP tool definitions (tools/list) as JSON\n"
	    "  -h, --help          show this help\n"
	    "  -V, --version       show the version and where the children are looked for\n"
	    "\n"
	    "Signals: SIGTERM/SIGINT stop accepting, let calls in flight finish within\n"
	    "MCP_AUTH_BROKER_SHUTDOWN_GRACE_SECONDS, then exit 0; SIGHUP does not reload\n"
	    "(restart to apply a new configuration).\n"
	    "\n"
	    "Exit status: 0 after end of input or SIGTERM, 1 a --check, --health,\n"
	    "--ready or --smoke-e2e check failed, 64 bad usage, 69 --connect found no\n"
	    "server, 70 a child died, 71 no /dev/null, 77 --connect may not open the\n"
	    "socket, 78 bad configuration or unusable socket.\n");
}

enum { OPT_CHECK = 256, OPT_HEALTH, OPT_READY, OPT_SMOKE_E2E, OPT_TOOLS, OPT_JSON, OPT_HTTP };

/* --tools: what tools/list answers, readable, for operators and for MCP
 * client configuration; starts nothing.  The names, descriptions and hints
 * follow the configuration, so it is read (smoke mode's defaults when
 * nothing is set) and a bad one refused as everywhere else. */
static void __attribute__((noreturn))
print_tools(void)
{
	struct json_object *o = json_object_new_object();
	struct config cfg;

	if (sodium_init() < 0)
		fatalx("sodium_init failed");
	config_load_or_exit(&cfg);
	jx_add(o, "tools", tools_list(&cfg, mcp_latest_version()));
	config_free(&cfg);
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	if (fflush(stdout) == EOF || ferror(stdout))
		fatal("--tools: writing to stdout");
	exit(0);
}

/* A closed stdin, stdout or stderr would be taken by the next descriptor
 * opened (a socketpair end, the signalfd) and then read as MCP input or
 * written to as output: each one closed is pointed at /dev/null. */
static void
std_fds_open(void)
{
	for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		int n;
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if ((n = open("/dev/null", O_RDWR)) != fd) {
			(void)!write(STDERR_FILENO, "brokerd: cannot open /dev/null\n", 31);
			_exit(EX_OSERR_STATUS);
		}
	}
}

struct args {
	const char *listen;  /* --listen PATH */
	const char *connect; /* --connect PATH */
	const char *http;    /* --http HOST:PORT */
	const char *check_http; /* --http given to --check or --ready: checked, not served */
	int check;	     /* OPT_CHECK, OPT_HEALTH, OPT_READY, OPT_SMOKE_E2E, OPT_TOOLS, or 0 */
	bool json;	     /* --json: --check or --ready as one JSON document */
};

/* One line on what was wrong and where to read more: the whole help
 * would bury it. */
static void __attribute__((noreturn))
usage_error(const char *msg, const char *arg)
{
	if (msg != NULL)
		fprintf(stderr, "brokerd: %s%s%s%s\n", msg, arg ? " '" : "", arg ? arg : "",
		    arg ? "'" : "");
	fprintf(stderr, "brokerd: see 'brokerd --help' for the options\n");
	exit(EX_USAGE_STATUS);
}

static void
parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "connect", required_argument, NULL, 'c' },
		{ "http", required_argument, NULL, OPT_HTTP },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "health", no_argument, NULL, OPT_HEALTH },
		{ "ready", no_argument, NULL, OPT_READY },
		{ "smoke-e2e", no_argument, NULL, OPT_SMOKE_E2E },
		{ "tools", no_argument, NULL, OPT_TOOLS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(a, 0, sizeof(*a));
	while ((ch = getopt_long(argc, argv, "l:c:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			a->listen = optarg;
			break;
		case 'c':
			a->connect = optarg;
			break;
		case OPT_HTTP:
			a->http = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_CHECK:
		case OPT_HEALTH:
		case OPT_READY:
		case OPT_SMOKE_E2E:
		case OPT_TOOLS:
			if (a->check != 0 && a->check != ch)
				usage_error("--check, --health, --ready, --smoke-e2e and --tools exclude "
					    "each other",
				    NULL);
			a->check = ch;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case 'V':
			printf("brokerd (%s) %s\nchildren in: %s\nseccomp: %s\n", PACKAGE_NAME,
			    PACKAGE_VERSION, LIBEXECDIR,
			    sandbox_available() ? "yes" : "NO (built with --disable-seccomp)");
			exit(0);
		default: /* getopt_long said what it did not understand */
			usage_error(NULL, NULL);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument", argv[optind]);
	if (a->json && a->check != OPT_CHECK && a->check != OPT_READY)
		usage_error("--json goes with --check or --ready", NULL);
	if (a->listen != NULL && a->connect != NULL)
		usage_error("--listen and --connect exclude each other", NULL);
	/* --listen and --http together: both served by one brokerd. */
	if (a->http != NULL && a->connect != NULL)
		usage_error("--http excludes --connect", NULL);
	if (a->check != 0 && (a->listen != NULL || a->connect != NULL))
		usage_error("--check, --health, --ready, --smoke-e2e and --tools run on their own: "
			    "no --listen or --connect (--check takes --http, to check it)",
		    NULL);
	/* --check and --ready check the address --http names; they serve nothing. */
	if (a->http != NULL && a->check != 0 && a->check != OPT_CHECK && a->check != OPT_READY)
		usage_error("--http goes with --check or --ready, not with --health, --smoke-e2e "
			    "or --tools",
		    NULL);
	if (a->check != 0) {
		a->check_http = a->http;
		a->http = NULL;
	}
}

/* SIGCHLD, SIGTERM, SIGINT and SIGHUP arrive through a signalfd, in the loop. */
static int
signals_setup(void)
{
	sigset_t mask;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	/* An audit file past RLIMIT_FSIZE: a write that fails (EFBIG), so
	 * that calls are refused with a reason, not a brokerd killed. */
	signal(SIGXFSZ, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		fatal("sigprocmask");
	if ((fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
		fatal("signalfd");
	return fd;
}

/* A child died: answer what is in flight, stop the other child, exit
 * non-zero so the service manager restarts the whole unit.  brokerd never
 * restarts a child: a new secretd channel is what an impostor would want. */
static void __attribute__((noreturn))
broker_child_died(struct broker *b, struct child *c)
{
	bool secret = (c == &b->secretd);

	log_error("%s died: failing %s calls in flight and shutting down", c->name,
	    secret ? "secret.unavailable" : "provider.unavailable");
	notify_stopping(b, secret ? "secretd died" : "tokend died");
	tools_fail_all(b, secret ? ERR_SECRET_UNAVAILABLE : ERR_PROVIDER_UNAVAILABLE,
	    secret ? "secretd is unavailable" : "tokend is unavailable");
	children_stop(b);
	for (struct session *s = b->sessions; s != NULL; s = s->next) {
		int64_t deadline = mono_ms() + 2000;
		while (session_flush(s) == 1 && mono_ms() < deadline) {
			struct pollfd p = { s->out_fd, POLLOUT, 0 };
			poll(&p, 1, 100);
		}
	}
	exit(EXIT_CHILD_DIED);
}

/* SIGTERM: stop accepting and reading; calls in flight have the grace
 * period to finish, then are cancelled (broker_stop_step). */
static void
broker_begin_stop(struct broker *b, unsigned signo)
{
	if (b->stopping)
		return;
	log_info("signal %u: no new sessions or calls; %ld s for the calls in flight", signo,
	    b->cfg.shutdown_grace_s);
	b->stopping = true;
	notify_stopping(b, signo == SIGTERM ? "SIGTERM" : "SIGINT");
	b->stop_deadline_ms = mono_ms() + b->cfg.shutdown_grace_s * 1000;
	listener_close(b);
	http_stop_accepting(b);
	for (struct session *s = b->sessions; s != NULL; s = s->next)
		s->in_eof = true;
}

static void
broker_signal(struct broker *b)
{
	struct signalfd_siginfo si;
	struct child *dead;

	while (read(b->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			broker_begin_stop(b, si.ssi_signo);
		else if (si.ssi_signo == SIGHUP)
			log_warnx("SIGHUP: configuration is read only at start; restart brokerd to "
				  "apply a new one");
	}
	if ((dead = children_reap(b)) != NULL)
		broker_child_died(b, dead);
}

/* tokend's messages: the OAuth key set, its counters, an answer to GET
 * /ready's check, or a tool call's answer or progress. */
static void
broker_tools_answer(void *arg, const struct ipc_msg *m)
{
	struct broker *b = arg;
	struct jwks k;
	const char *why = NULL;

	if (m->hdr.type == MSG_TOKEN_STATS) {
		metrics_token_stats(m);
		return;
	}
	if (m->hdr.type != MSG_JWKS && m->hdr.type != MSG_JWKS_FAIL) {
		if (!http_ready_answer(b, m))
			tools_answer(b, m);
		return;
	}
	if (b->http == NULL || !AUTH_MODE_OAUTH(b->cfg.auth_mode))
		fatalx("broken invariant: JWKS from tokend, and callers are not OAuth's");
	if (m->hdr.type == MSG_JWKS_FAIL) {
		/* tokend logged it and tries again; the keys held stay. */
		char text[MSG_JWKS_FAIL_MAX];
		if (msg_jwks_fail_decode(m, text, sizeof(text), &why) == -1)
			fatalx("malformed JWKS_FAIL from tokend: %s", why);
		return;
	}
	if (msg_jwks_decode(m, &k, &why) == -1)
		fatalx("malformed JWKS from tokend: %s", why);
	http_jwks_update(b->http, &k);
}

static void
broker_service_child(struct broker *b, struct child *c)
{
	if (children_read(b, c, broker_tools_answer, b))
		broker_child_died(b, c);
}

static void
broker_flush(struct broker *b)
{
	if (ipc_flush(&b->secretd.chan) == -1 && errno != EPIPE && errno != ECONNRESET)
		fatal("write to secretd");
	if (ipc_flush(&b->tokend.chan) == -1 && errno != EPIPE && errno != ECONNRESET)
		fatal("write to tokend");
	for (struct session *s = b->sessions; s != NULL; s = s->next)
		session_flush(s);
}

/* ---- the loop: the children, the listener, every session --------------- */

enum { PFD_SIG, PFD_SECRETD, PFD_TOKEND, PFD_LISTENER, PFD_FIXED };
_Static_assert(PFD_FIXED == BROKER_POLL_FIXED, "listener.c sizes sessions by BROKER_POLL_FIXED");

struct pollset {
	struct pollfd *pfd;
	size_t cap;
	size_t n;
	size_t http_at; /* libmicrohttpd's descriptors: after the sessions' */
	size_t http_n;
};

static bool
broker_accepting(const struct broker *b)
{
	return b->listener >= 0 && listener_has_room(b) &&
	    mono_ms() >= b->accept_resume_ms;
}

/* Two slots per session, in list order: input, then output.  A socket peer
 * is always watched, so a hang-up is seen even while it is not being read. */
static void
poll_session(const struct broker *b, const struct session *s, struct pollfd *p)
{
	bool in = session_wants_input(b, s);

	if (s->transport == SESSION_UNIX)
		p[0] = (struct pollfd){ s->peer_gone ? -1 : s->in_fd, in ? POLLIN : 0, 0 };
	else
		p[0] = (struct pollfd){ in ? s->in_fd : -1, POLLIN, 0 };
	p[1] = (struct pollfd){ buf_avail(&s->out) && !s->out_broken ? s->out_fd : -1, POLLOUT,
		0 };
}

static void
broker_poll_setup(struct broker *b, struct pollset *ps)
{
	size_t http_n = http_poll_prepare(b);
	size_t need = PFD_FIXED + 2 * b->n_sessions + http_n, i = PFD_FIXED;
	struct pollfd *p = ps->pfd;

	if (need > ps->cap) {
		if ((p = reallocarray(ps->pfd, need, sizeof(*p))) == NULL)
			fatalx("out of memory");
		ps->pfd = p;
		ps->cap = need;
	}
	ps->n = need;
	p[PFD_SIG] = (struct pollfd){ b->sigfd, POLLIN, 0 };
	p[PFD_SECRETD] = (struct pollfd){ b->secretd.chan.fd,
		POLLIN | (ipc_pending_out(&b->secretd.chan) ? POLLOUT : 0), 0 };
	p[PFD_TOKEND] = (struct pollfd){ b->tokend.chan.fd,
		POLLIN | (ipc_pending_out(&b->tokend.chan) ? POLLOUT : 0), 0 };
	p[PFD_LISTENER] = (struct pollfd){ broker_accepting(b) ? b->listener : -1, POLLIN, 0 };
	for (struct session *s = b->sessions; s != NULL; s = s->next, i += 2)
		poll_session(b, s, &p[i]);
	ps->http_at = i;
	ps->http_n = http_n;
	http_poll_fill(b, &p[i], http_n);
}

/* The earliest moment the loop must wake without any descriptor ready. */
static int64_t
broker_next_deadline(const struct broker *b)
{
	int64_t next = tools_next_deadline(b), idle = session_idle_deadline(b);
	int64_t status = notify_next_deadline(), http = http_next_deadline(b);

	if (idle >= 0 && (next < 0 || idle < next))
		next = idle;
	if (status >= 0 && (next < 0 || status < next))
		next = status;
	if (http >= 0 && (next < 0 || http < next))
		next = http;
	if (b->children_hold_fd >= 0 && (next < 0 || b->children_hold_until < next))
		next = b->children_hold_until;

	if (b->listener >= 0 && b->accept_resume_ms > mono_ms() &&
	    (next < 0 || b->accept_resume_ms < next))
		next = b->accept_resume_ms;
	if (b->stopping) {
		int64_t t = b->calls ? b->stop_deadline_ms : b->stop_deadline_ms + SHUTDOWN_FLUSH_MS;
		if (next < 0 || t < next)
			next = t;
	}
	return next;
}

static void
broker_session_io(struct broker *b, struct pollset *ps)
{
	const short ready = POLLIN | POLLHUP | POLLERR;
	size_t i = PFD_FIXED;

	for (struct session *s = b->sessions; s != NULL && i < ps->http_at; s = s->next, i += 2) {
		short rev = ps->pfd[i].revents;
		/* A socket peer that closed both directions is gone; one that
		 * only closed its writing side still gets its answers. */
		if (s->transport == SESSION_UNIX && (rev & (POLLHUP | POLLERR)))
			s->peer_gone = true;
		else if ((rev & ready) && session_wants_input(b, s))
			session_read(b, s);
	}
}

/* Closes sessions that are done or idle; after SIGTERM's grace period and
 * the time to drain answers, every one left. */
static void
broker_reap_sessions(struct broker *b)
{
	int64_t now = mono_ms();
	bool force = b->stopping && now >= b->stop_deadline_ms + SHUTDOWN_FLUSH_MS;
	struct session *s, *next;

	for (s = b->sessions; s != NULL; s = next) {
		next = s->next;
		if (force || session_done(s))
			session_close(b, s);
		else if (session_idle(b, s, now))
			session_close_idle(b, s);
	}
}

static void
broker_stop_step(struct broker *b)
{
	if (b->stopping && b->calls != NULL && mono_ms() >= b->stop_deadline_ms) {
		log_warnx("shutdown grace period over: cancelling the calls still in flight");
		tools_shutdown(b);
	}
}

/* Until the stdio session has ended, or, serving a socket, until SIGTERM has
 * closed the listener and every session has ended. */
/* How long the children wait, at most, for the stdio client's first
 * message to be answered before they start: a client that says nothing at
 * first should not find them still starting when it does. */
#define CHILDREN_HOLD_MS 10

static void
broker_loop(struct broker *b)
{
	struct pollset ps = { NULL, 0, 0, 0, 0 };
	const short ready = POLLIN | POLLHUP | POLLERR;

	while (b->sessions != NULL || b->listener >= 0 || http_serving(b)) {
		broker_poll_setup(b, &ps);
		if (poll(ps.pfd, ps.n, poll_timeout_ms(broker_next_deadline(b))) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if (ps.pfd[PFD_SIG].revents & POLLIN)
			broker_signal(b);
		if (ps.pfd[PFD_SECRETD].revents & ready)
			broker_service_child(b, &b->secretd);
		if (ps.pfd[PFD_TOKEND].revents & ready)
			broker_service_child(b, &b->tokend);
		broker_session_io(b, &ps);
		/* After the session slots were read: both add sessions. */
		if (ps.pfd[PFD_LISTENER].revents & ready)
			listener_accept(b);
		http_run(b, &ps.pfd[ps.http_at], ps.http_n);
		tools_expire(b);
		broker_stop_step(b);
		for (struct session *s = b->sessions; s != NULL; s = s->next)
			session_process(b, s);
		http_resume_ready(b);
		broker_flush(b);
		/* The first pass has answered what the client sent first (or the
		 * hold expired): now the children may start (children.c). */
		children_release(b);
		broker_reap_sessions(b);
		notify_status(b);
	}
	free(ps.pfd);
}

int
main(int argc, char **argv)
{
	struct broker b;
	struct args a;
	pid_t spawner = getppid();
	struct activated act;

	std_fds_open();
	log_init("brokerd", LOG_LEVEL_INFO);
	/* A Graph answer passes through blocks of megabytes (tokend's message,
	 * the parsed body, the structured text, the session's output).  glibc
	 * would raise its mmap threshold after the first such block is freed
	 * and take the next ones from the heap, which it rarely gives back: a
	 * fixed threshold keeps every large block mmapped, returned at free,
	 * so brokerd's resident size follows what it holds now (issue 9). */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	parse_args(argc, argv, &a);
	if (a.check == OPT_TOOLS)
		print_tools(); /* needs no configuration and starts nothing */
	if (a.connect != NULL) {
		/* The bridge needs no credential: one handed to it anyway goes. */
		secretenv_take(OP_TOKEN_VAR, NULL);
		bridge_main(a.connect); /* reads no configuration, holds no secret */
	}
	proc_harden("brokerd");
	/* Serving (not a check, whose forks must not speak for the service):
	 * connected now, because the sandbox allows no socket or connect. */
	if (a.check == 0)
		notify_open();
	else
		unsetenv("NOTIFY_SOCKET");
	if (sodium_init() < 0)
		fatalx("sodium_init failed");
	memset(&b, 0, sizeof(b));
	b.listener = -1;
	b.children_hold_fd = -1;
	if (a.check == OPT_CHECK)
		selfcheck_config(a.json, a.check_http);
	if (a.check == OPT_SMOKE_E2E)
		selfcheck_smoke_env(); /* MCP_AUTH_BROKER_ENV=smoke, no real secret around */
	config_load_or_exit(&b.cfg);
	secretenv_check_or_exit(&b.cfg);
	/* Opened before a check forks, so that an unusable audit file stops it
	 * with 78 like any other configuration problem. */
	audit_open(&b.cfg);
	if (a.check == OPT_HEALTH || a.check == OPT_SMOKE_E2E) {
		b.selfcheck = a.check == OPT_HEALTH ? "health" : "smoke-e2e";
		/* Returns in the broker, whose peer is the checker (its parent). */
		selfcheck_fork(a.check == OPT_HEALTH ? SELFCHECK_HEALTH : SELFCHECK_SMOKE_E2E, &b.cfg);
		spawner = getppid();
	}
	if (a.check == OPT_READY) {
		selfcheck_ready_programs(&b.cfg, a.json); /* a missing child is a failed check, not a crash */
		/* secretd reads the federated token file for the report now: the
		 * sandbox allows no process. */
		secrets_federated_describe(&b.cfg, &b.federated);
	}
	log_set_level(b.cfg.log_level);
	secrets_take(&b);
	if (b.cfg.env == BROKER_ENV_SMOKE)
		log_warnx("MCP_AUTH_BROKER_ENV=smoke: built-in fake secret, tokens and Graph");
	/* Made (or taken from systemd) before the sandbox, which allows no bind;
	 * a socket that cannot be made stops us before anything is started. */
	activation_take(&act);
	listener_open(&b, a.listen, act.unix_fd);
	/* The same for the TCP socket; the API keys are read now too, since
	 * the sandbox allows no open.  A unit may pass both sockets: the unix
	 * sessions and the HTTP ones share the children, policy and audit. */
	http_open(&b, a.http, act.http_fd);
	b.sigfd = signals_setup();
	/* The children, and the channel between them, exist before the first
	 * client byte is read. */
	children_start(&b);
	secrets_hand_over(&b);
	/* Forked now, holding no secret and no channel: brokerd's sandbox
	 * allows no unlink, so the reaper removes the socket file at the end. */
	reaper_start(&b);
	/* brokerd parses untrusted input: from here on it cannot reach the
	 * network, start a program, open a file, make a socket, pass a
	 * descriptor, signal anything but its children, remove a file or make
	 * memory executable. */
	/* Held children (children.c) wait for the stdio client's first
	 * message to be answered, CHILDREN_HOLD_MS at most; a socket's
	 * sessions and --ready need them at once, released before the filter. */
	b.children_hold_until = mono_ms() + CHILDREN_HOLD_MS;
	if (b.listener >= 0 || b.http != NULL || a.check == OPT_READY)
		children_release(&b);
	/* cjose's and OpenSSL's one-time set-up, while files may be read:
	 * serving OAuth callers, or --ready decoding their key set. */
	if ((b.http != NULL || a.check == OPT_READY) && AUTH_MODE_OAUTH(b.cfg.auth_mode))
		bearer_selftest();
	sandbox_enter_brokerd((pid_t[]){ b.secretd.pid, b.tokend.pid }, 2, audit_sink_fd());
	if (a.check == OPT_READY)
		selfcheck_ready(&b, a.json, a.check_http);
	if (b.listener < 0 && b.http == NULL) /* the spawner is the peer (getppid is not in the sandbox) */
		session_new(&b, SESSION_STDIO, STDIN_FILENO, STDOUT_FILENO)->peer_pid = spawner;
	log_info("serving MCP on %s (tenant %s, policy %s)", listener_transports(&b),
	    b.cfg.tenant_id, b.cfg.policy_version);
	/* The children run and the listener is listening: connections made
	 * from now on are served. */
	notify_ready(&b);
	broker_loop(&b);
	children_stop(&b);
	listener_close(&b);
	http_close(&b);
	log_info("%s: exiting", b.stopping ? "stopped" : "end of input");
	free(b.listen_path);
	config_free(&b.cfg);
	return 0;
}
