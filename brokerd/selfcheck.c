/* brokerd --check, --health, --smoke-e2e and --ready: brokerd checks itself.
 *
 * --check starts nothing: the configuration, the secret provider's
 * prerequisites, the children's programs, seccomp, the CA and audit files.
 *
 * --health and --smoke-e2e check it as an MCP client would see it.
 * The process forks once its configuration has been checked.  The child
 * goes on as the ordinary stdio broker (children, IPC, sandbox, policy,
 * audit: nothing is bypassed) with one end of a socketpair as its stdin and
 * stdout.  The parent drops every credential from its environment and
 * speaks MCP over the other end: one line on stdout per step ("ok" or
 * "FAIL", what was checked, what was seen), then a summary.  At the end it
 * closes its end, and the broker must then exit 0 with its children, as it
 * does at the end of any stdio session. */
#include "buildconf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "brokerd.h"
#include "jsonx.h"
#include "msg.h"
#include "log.h"
#include "sandbox.h"
#include "secretenv.h"
#include "timeutil.h"
#include "tools.h"

/* Per answer: long enough for a secret helper's timeout and a token
 * request, short enough that a wedged broker is reported, not waited on. */
#define SELFCHECK_STEP_MS 30000
#define SELFCHECK_REQUESTER "brokerd-selfcheck"

/* What the steps found: each prints a line and counts here. */
struct tally {
	unsigned passed, failed;
};

struct probe {
	struct tally t;
	int fd;
	pid_t broker;
	struct buf in;
	int64_t next_id;
	const struct config *cfg;
};

static void __attribute__((format(printf, 5, 0)))
vstep(struct tally *t, const char *verdict, bool ok, const char *what, const char *fmt, va_list ap)
{
	printf("%-4s  %-18s ", verdict, what);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
	if (ok)
		t->passed++;
	else
		t->failed++;
}

static void __attribute__((format(printf, 4, 5)))
step(struct tally *t, bool ok, const char *what, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vstep(t, ok ? "ok" : "FAIL", ok, what, fmt, ap);
	va_end(ap);
}

/* Passed, with something the operator should change. */
static void __attribute__((format(printf, 3, 4)))
step_warn(struct tally *t, const char *what, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vstep(t, "warn", true, what, fmt, ap);
	va_end(ap);
}

static void __attribute__((noreturn))
summary(const struct tally *t, const char *name)
{
	printf("%s: %s (%u passed, %u failed)\n", name, t->failed ? "FAILED" : "ok", t->passed,
	    t->failed);
	exit(t->failed ? 1 : 0);
}

static bool
probe_send(struct probe *p, struct json_object *msg)
{
	size_t len, off = 0;
	const char *text = jx_text(msg, &len);
	char *line = malloc(len + 1);

	if (line == NULL)
		fatalx("out of memory");
	memcpy(line, text, len);
	line[len++] = '\n';
	while (off < len) {
		ssize_t w = send(p->fd, line + off, len - off, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(line);
	json_object_put(msg);
	return off == len;
}

/* The next message from the broker, or NULL with *why at EOF, timeout or a
 * line that is not JSON. */
static struct json_object *
probe_recv(struct probe *p, int64_t deadline, const char **why)
{
	for (;;) {
		const unsigned char *head = buf_head(&p->in);
		const unsigned char *nl = memchr(head, '\n', buf_avail(&p->in));
		if (nl != NULL) {
			size_t n = (size_t)(nl - head);
			struct json_object *o = jx_parse((const char *)head, n, why);
			buf_consume(&p->in, n + 1);
			if (o == NULL && *why != NULL)
				*why = "the broker wrote a line that is not JSON";
			return o;
		}
		struct pollfd pfd = { p->fd, POLLIN, 0 };
		int r = poll(&pfd, 1, poll_timeout_ms(deadline));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == 0) {
			*why = "no answer within 30 s";
			return NULL;
		}
		if (buf_reserve(&p->in, 65536) == -1)
			fatalx("out of memory");
		ssize_t n = read(p->fd, p->in.data + p->in.len, p->in.cap - p->in.len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			*why = "the broker closed the session";
			return NULL;
		}
		p->in.len += (size_t)n;
	}
}

/* Sends a request and returns the response with its id (notifications and
 * other answers are skipped), or NULL with *why. */
static struct json_object *
probe_request(struct probe *p, const char *method, struct json_object *params,
    const char **why)
{
	struct json_object *msg = json_object_new_object();
	int64_t id = ++p->next_id, deadline = mono_ms() + SELFCHECK_STEP_MS;

	jx_add_str(msg, "jsonrpc", "2.0");
	jx_add_int(msg, "id", id);
	jx_add_str(msg, "method", method);
	if (params != NULL)
		jx_add(msg, "params", params);
	if (!probe_send(p, msg)) {
		*why = "the broker closed the session";
		return NULL;
	}
	for (;;) {
		int64_t got;
		struct json_object *o = probe_recv(p, deadline, why);
		if (o == NULL)
			return NULL;
		if (jx_get_int64(o, "id", &got) && got == id && jx_get(o, "method") == NULL)
			return o;
		json_object_put(o);
	}
}

/* The structuredContent of a tools/call answer; *is_error tells a tool
 * failure.  NULL (with *why) for a JSON-RPC error or a missing result. */
static struct json_object *
tool_answer(struct json_object *resp, bool *is_error, const char **why)
{
	struct json_object *res = jx_get_obj(resp, "result"), *err = jx_get_obj(resp, "error");
	struct json_object *sc = res ? jx_get_obj(res, "structuredContent") : NULL, *flag;

	if (err != NULL) {
		*why = jx_get_str(err, "message") ? jx_get_str(err, "message") : "JSON-RPC error";
		return NULL;
	}
	if (sc == NULL) {
		*why = "no structuredContent in the answer";
		return NULL;
	}
	flag = jx_get(res, "isError");
	*is_error = flag != NULL && json_object_get_boolean(flag);
	return sc;
}

static const char *
error_code(struct json_object *sc)
{
	struct json_object *e = jx_get_obj(sc, "error");
	const char *code = e ? jx_get_str(e, "code") : NULL;

	return code ? code : "(no code)";
}

/* A failed tool call, as a step line: its code and what it said. */
static void
step_tool_error(struct probe *p, const char *label, struct json_object *sc, const char *why)
{
	struct json_object *e = sc ? jx_get_obj(sc, "error") : NULL;
	const char *msg = e ? jx_get_str(e, "message") : NULL;

	if (sc == NULL)
		step(&p->t, false, label, "%s", why);
	else
		step(&p->t, false, label, "%s: %s", error_code(sc), msg ? msg : "(no message)");
}

/* ---- the steps ---------------------------------------------------------- */

static bool
check_initialize(struct probe *p)
{
	struct json_object *params = json_object_new_object(), *info = json_object_new_object();
	struct json_object *resp, *res, *note;
	const char *why = NULL, *version;

	jx_add_str(params, "protocolVersion", mcp_latest_version());
	jx_add(params, "capabilities", json_object_new_object());
	jx_add_str(info, "name", SELFCHECK_REQUESTER);
	jx_add_str(info, "version", BROKERD_VERSION);
	jx_add(params, "clientInfo", info);
	if ((resp = probe_request(p, "initialize", params, &why)) == NULL) {
		step(&p->t, false, "initialize", "%s", why);
		return false;
	}
	res = jx_get_obj(resp, "result");
	version = res ? jx_get_str(res, "protocolVersion") : NULL;
	if (version == NULL || strcmp(version, mcp_latest_version()) != 0)
		step(&p->t, false, "initialize", "asked for %s, got %s", mcp_latest_version(),
		    version ? version : "no protocolVersion");
	else
		step(&p->t, true, "initialize", "protocol %s", version);
	json_object_put(resp);
	note = json_object_new_object();
	jx_add_str(note, "jsonrpc", "2.0");
	jx_add_str(note, "method", "notifications/initialized");
	return probe_send(p, note) && version != NULL;
}

static void
check_ping(struct probe *p)
{
	const char *why = NULL;
	struct json_object *resp = probe_request(p, "ping", NULL, &why);

	if (resp == NULL)
		step(&p->t, false, "ping", "%s", why);
	else
		step(&p->t, jx_get_obj(resp, "result") != NULL, "ping",
		    jx_get_obj(resp, "result") ? "answered" : "answered with an error");
	json_object_put(resp);
}

static void
check_tools_list(struct probe *p)
{
	const char *why = NULL;
	struct json_object *resp = probe_request(p, "tools/list", NULL, &why), *res, *tools;
	bool execute = false, describe = false;

	if (resp == NULL) {
		step(&p->t, false, "tools/list", "%s", why);
		return;
	}
	res = jx_get_obj(resp, "result");
	tools = res ? jx_get_arr(res, "tools") : NULL;
	for (size_t i = 0; tools != NULL && i < json_object_array_length(tools); i++) {
		const char *name = jx_get_str(json_object_array_get_idx(tools, i), "name");
		execute |= name != NULL && strcmp(name, TOOL_EXECUTE) == 0;
		describe |= name != NULL && strcmp(name, TOOL_DESCRIBE) == 0;
	}
	step(&p->t, execute && describe, "tools/list", "%s%s", execute ? "" : TOOL_EXECUTE " missing ",
	    describe ? (execute ? TOOL_EXECUTE ", " TOOL_DESCRIBE : "") : TOOL_DESCRIBE " missing");
	json_object_put(resp);
}

/* A tools/call and what came back: resp owns sc; sc is NULL (why says
 * why) when there was no tool result at all. */
struct reply {
	struct json_object *resp, *sc;
	bool is_error;
	const char *why;
};

static void
call_tool(struct probe *p, const char *tool, struct json_object *args, struct reply *r)
{
	struct json_object *params = json_object_new_object();

	jx_add_str(params, "name", tool);
	jx_add(params, "arguments", args);
	r->sc = NULL;
	r->is_error = false;
	r->why = NULL;
	if ((r->resp = probe_request(p, "tools/call", params, &r->why)) != NULL)
		r->sc = tool_answer(r->resp, &r->is_error, &r->why);
}

/* The structuredContent of a successful call; otherwise the step fails
 * with the error, the reply is freed, and NULL is returned. */
static struct json_object *
call_succeeded(struct probe *p, const char *label, struct reply *r)
{
	if (r->sc != NULL && !r->is_error)
		return r->sc;
	step_tool_error(p, label, r->sc, r->why);
	json_object_put(r->resp);
	return NULL;
}

/* describe crosses brokerd -> tokend and back: the children answer. */
static void
check_describe(struct probe *p, const char *label, const char *want_state)
{
	const char *state;
	struct json_object *sc, *cache;
	struct reply r;

	call_tool(p, TOOL_DESCRIBE, json_object_new_object(), &r);
	if ((sc = call_succeeded(p, label, &r)) == NULL)
		return;
	cache = jx_get_obj(sc, "cache");
	state = cache ? jx_get_str(cache, "state") : NULL;
	if (state == NULL)
		step(&p->t, false, label, "no cache state in the answer");
	else if (want_state != NULL && strcmp(state, want_state) != 0)
		step(&p->t, false, label, "token cache %s, expected %s", state, want_state);
	else
		step(&p->t, true, label, "tokend answered: token cache %s for %s", state,
		    jx_get_str(sc, "resource") ? jx_get_str(sc, "resource") : "?");
	json_object_put(r.resp);
}

static struct json_object *
execute_args(const struct probe *p, const char *request_id, const char *path)
{
	struct json_object *a = json_object_new_object(), *o = json_object_new_object();
	struct json_object *scopes = json_object_new_array();

	jx_add_str(a, "contract_version", "v1");
	jx_add_str(a, "request_id", request_id);
	jx_add_str(o, "requester_id", SELFCHECK_REQUESTER);
	jx_add_str(o, "identity_assurance", "high");
	jx_add(a, "requester", o);
	o = json_object_new_object();
	jx_add_str(o, "tenant_id", p->cfg->tenant_id);
	jx_add_str(o, "resource", p->cfg->resources.v[0]);
	json_object_array_add(scopes, json_object_new_string(p->cfg->scopes.v[0]));
	jx_add(o, "scopes", scopes);
	jx_add(a, "graph", o);
	o = json_object_new_object();
	jx_add_str(o, "action", "downstream_call");
	jx_add_str(o, "method", "GET");
	jx_add_str(o, "path", path);
	jx_add(a, "operation", o);
	jx_add_int(a, "timeout_ms", 10000);
	return a;
}

/* An allowed GET; want_source is the token source it must report. */
static void
check_execute(struct probe *p, const char *label, const char *request_id, const char *want_source)
{
	const char *source;
	struct json_object *sc, *token, *exec;
	struct reply r;
	int64_t status = 0;

	call_tool(p, TOOL_EXECUTE, execute_args(p, request_id, "/v1.0/organization"), &r);
	if ((sc = call_succeeded(p, label, &r)) == NULL)
		return;
	token = jx_get_obj(sc, "token");
	exec = jx_get_obj(sc, "execution");
	source = token ? jx_get_str(token, "source") : NULL;
	if (exec == NULL || !jx_get_int64(exec, "http_status", &status))
		status = 0;
	if (source == NULL || strcmp(source, want_source) != 0 || status != 200)
		step(&p->t, false, label, "GET /v1.0/organization: HTTP %lld, token source %s (expected 200, %s)",
		    (long long)status, source ? source : "missing", want_source);
	else
		step(&p->t, true, label, "GET /v1.0/organization: HTTP 200, token source %s", source);
	json_object_put(r.resp);
}

/* A path policy must refuse whatever the configuration says. */
static void
check_denied(struct probe *p)
{
	const char *code;
	struct reply r;

	call_tool(p, TOOL_EXECUTE, execute_args(p, "selfcheck-denied", "/v1.0/users/../../admin"), &r);
	code = r.sc ? error_code(r.sc) : r.why;
	step(&p->t, r.sc != NULL && r.is_error && strcmp(code, "policy.denied") == 0, "policy deny",
	    "GET /v1.0/users/../../admin: %s", r.sc == NULL || r.is_error ? code : "was allowed");
	json_object_put(r.resp);
}

/* The end of input ends the session: the broker and its children exit 0. */
static void
check_shutdown(struct probe *p)
{
	int status = 0;
	int64_t deadline = mono_ms() + SELFCHECK_STEP_MS;
	pid_t r = 0;

	shutdown(p->fd, SHUT_WR);
	/* Drain until the broker closes its end, so it never blocks writing. */
	for (;;) {
		const char *why = NULL;
		struct json_object *o = probe_recv(p, deadline, &why);
		if (o == NULL && why != NULL)
			break;
		json_object_put(o);
	}
	while (mono_ms() < deadline && (r = waitpid(p->broker, &status, WNOHANG)) == 0)
		poll(NULL, 0, 50);
	if (r == 0) {
		kill(p->broker, SIGKILL);
		waitpid(p->broker, &status, 0);
		step(&p->t, false, "shutdown", "brokerd did not exit after the end of input: killed");
	} else if (r == -1) {
		step(&p->t, false, "shutdown", "waitpid: %s", strerror(errno));
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		step(&p->t, true, "shutdown", "end of input: brokerd, secretd and tokend exited 0");
	} else if (WIFEXITED(status)) {
		step(&p->t, false, "shutdown", "brokerd exited %d (its log is on stderr)", WEXITSTATUS(status));
	} else {
		step(&p->t, false, "shutdown", "brokerd killed by signal %d", WTERMSIG(status));
	}
}

static void __attribute__((noreturn))
selfcheck_run(struct probe *p, enum selfcheck_mode mode)
{
	const char *name = mode == SELFCHECK_HEALTH ? "health" : "smoke-e2e";

	/* Which broker this is: smoke (the default) passes --health too. */
	step(&p->t, true, "configuration", "env %s, tenant %s, policy %s", config_env_name(p->cfg->env),
	    p->cfg->tenant_id, p->cfg->policy_version);
	if (check_initialize(p)) {
		check_ping(p);
		check_tools_list(p);
		if (mode == SELFCHECK_HEALTH) {
			check_describe(p, "describe", NULL);
		} else {
			check_describe(p, "describe (cold)", "empty");
			check_execute(p, "execute", "selfcheck-1", "minted");
			check_execute(p, "execute (cached)", "selfcheck-2", "cache");
			check_denied(p);
			check_describe(p, "describe (warm)", "valid");
		}
	}
	check_shutdown(p);
	buf_free(&p->in);
	summary(&p->t, name);
}

void
selfcheck_fork(enum selfcheck_mode mode, const struct config *cfg)
{
	struct probe p;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		fatal("socketpair");
	fflush(stdout);
	switch ((p.broker = fork())) {
	case -1:
		fatal("fork");
	case 0:
		/* The broker: the socketpair is its stdio session. */
		if (dup2(sv[1], STDIN_FILENO) == -1 || dup2(sv[1], STDOUT_FILENO) == -1)
			fatal("dup2");
		close(sv[0]);
		close(sv[1]);
		return;
	}
	close(sv[1]);
	/* The client holds nothing: what the broker passes on stays with it. */
	secretenv_take(OP_TOKEN_VAR, NULL);
	if (cfg->env != BROKER_ENV_SMOKE && cfg->secret_provider == SECRET_PROVIDER_ENV)
		secretenv_take(cfg->secret_ref, NULL);
	memset(&p.in, 0, sizeof(p.in));
	buf_init(&p.in);
	p.fd = sv[0];
	p.next_id = 0;
	p.t.passed = p.t.failed = 0;
	p.cfg = cfg;
	selfcheck_run(&p, mode);
}

/* ---- --smoke-e2e's environment ---------------------------------------- */

void
selfcheck_smoke_env(void)
{
	const char *provider = getenv("MCP_AUTH_BROKER_SECRET_PROVIDER");
	const char *ref = getenv("MCP_AUTH_BROKER_GRAPH_SECRET_REF");
	char name[256];

	/* Smoke mode serves the built-in secret and would leave the env
	 * provider's variable, a real secret, where it is: in both halves.
	 * (The name is judged as config.c judges it: at most 128 bytes.) */
	if (provider != NULL && strcmp(provider, "env") == 0 && ref != NULL &&
	    config_env_ref_valid(ref)) {
		memcpy(name, ref, strlen(ref) + 1);
		secretenv_take(name, NULL);
	}
	if (setenv("MCP_AUTH_BROKER_ENV", "smoke", 1) == -1)
		fatal("setenv");
}

/* ---- --ready: can this configuration obtain a token? ------------------- */

/* One token-only request per allowed resource: secretd resolves the secret,
 * tokend asks the login endpoint; nothing reaches Graph, and brokerd sees
 * the token's metadata, never the token. */
struct ready_result {
	bool done, ok;
	char detail[768];
};

/* Results are printed in the configured order once all are in, whatever
 * order the logins finish in. */
struct ready {
	struct broker *b;
	struct tally t;
	size_t n, answered;
	struct ready_result *res;
	const char *stopped; /* why the wait ended early, or NULL */
};

static void
ready_answer(struct ready *r, const struct ipc_msg *m)
{
	struct json_object *rec;
	const char *resource, *outcome, *source = NULL, *why = NULL;
	struct ready_result *res;
	struct msg_exec_ans a;

	if (m->hdr.type != MSG_EXEC_ANS)
		return; /* progress of a retried login: the answer follows */
	if (m->hdr.id == 0 || m->hdr.id > r->n || r->res[m->hdr.id - 1].done)
		fatalx("tokend answered an unknown readiness request %llu",
		    (unsigned long long)m->hdr.id);
	res = &r->res[m->hdr.id - 1];
	resource = r->b->cfg.resources.v[m->hdr.id - 1];
	if (msg_exec_ans_decode(m, &a, &why) == -1)
		fatalx("malformed EXEC_ANS from tokend: %s", why);
	if (a.code == ERR_NONE) {
		outcome = "ok";
		res->ok = true;
		source = msg_token_source_name(a.token.source);
		snprintf(res->detail, sizeof(res->detail), "%s: %s %s token, expires %s", resource,
		    source, a.token.token_type, a.token.expires_at);
	} else {
		outcome = err_name(a.code);
		snprintf(res->detail, sizeof(res->detail), "%s: %s: %s", resource, outcome,
		    a.message);
	}
	rec = json_object_new_object();
	jx_add_str(rec, "resource", resource);
	jx_add_str(rec, "outcome", outcome);
	if (source != NULL)
		jx_add_str(rec, "token_source", source);
	jx_add(rec, "secret_fingerprint", r->b->secret_fingerprint[0]
		? json_object_new_string(r->b->secret_fingerprint) : NULL);
	audit_write("ready_check", rec);
	json_object_put(rec);
	msg_exec_ans_free(&a);
	res->done = true;
	r->answered++;
}

static void
ready_from_tokend(void *r, const struct ipc_msg *m)
{
	ready_answer(r, m);
}

static void
ready_read(struct ready *r, struct child *c)
{
	if (children_read(r->b, c, ready_from_tokend, r))
		r->stopped = c == &r->b->tokend ? "tokend died" : "secretd died";
}

static void
ready_signal(struct ready *r)
{
	struct signalfd_siginfo si;

	while (read(r->b->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			r->stopped = "interrupted by a signal";
	if (children_reap(r->b) != NULL)
		r->stopped = r->b->secretd.exited ? "secretd died" : "tokend died";
}

/* The certificate credential's public facts, as secretd loaded them: the
 * thumbprints the app registration must show; a warning 30 days ahead. */
static void
ready_certificate_step(struct tally *t, const struct broker *b)
{
	char line[768];

	if (secrets_cert_line(&b->cert, (int64_t)time(NULL), line, sizeof(line)))
		step_warn(t, "certificate", "%s", line);
	else if (line[0] != '\0')
		step(t, true, "certificate", "%s", line);
}

void
selfcheck_ready(struct broker *b)
{
	const struct config *cfg = &b->cfg;
	/* A login may resolve the secret and ask the endpoint twice (the retry
	 * with a fresh secret after invalid_client), and back off once. */
	int64_t budget_ms = 2 * (cfg->secret_timeout_s + cfg->token_provider_timeout_s) * 1000 + 1000;
	int64_t deadline = mono_ms() + budget_ms + CALL_BACKSTOP_MS;
	struct ready r = { b, { 0, 0 }, cfg->resources.n, 0, NULL, NULL };

	if ((r.res = calloc(r.n, sizeof(*r.res))) == NULL)
		fatalx("out of memory");
	if (budget_ms > REQ_TIMEOUT_MAX_MS)
		budget_ms = REQ_TIMEOUT_MAX_MS;
	for (size_t i = 0; i < r.n; i++)
		msg_exec_req_send_token_only(&b->tokend.chan, i + 1, cfg->tenant_id,
		    cfg->resources.v[i], (long)budget_ms);
	while (r.answered < r.n && r.stopped == NULL) {
		struct pollfd p[3] = {
			{ b->sigfd, POLLIN, 0 },
			{ b->secretd.chan.fd, POLLIN | (ipc_pending_out(&b->secretd.chan) ? POLLOUT : 0), 0 },
			{ b->tokend.chan.fd, POLLIN | (ipc_pending_out(&b->tokend.chan) ? POLLOUT : 0), 0 },
		};
		if (ipc_flush(&b->tokend.chan) == -1 && errno != EPIPE && errno != ECONNRESET)
			fatal("write to tokend");
		if (ipc_flush(&b->secretd.chan) == -1 && errno != EPIPE && errno != ECONNRESET)
			fatal("write to secretd");
		if (mono_ms() >= deadline) {
			r.stopped = "no answer from tokend in time";
			break;
		}
		if (poll(p, 3, poll_timeout_ms(deadline)) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		/* secretd first: the fingerprint it sends precedes the token. */
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
			ready_read(&r, &b->secretd);
		if (p[2].revents & (POLLIN | POLLHUP | POLLERR))
			ready_read(&r, &b->tokend);
		if (p[0].revents & POLLIN)
			ready_signal(&r);
	}
	for (size_t i = 0; i < r.n; i++) {
		if (r.res[i].done)
			step(&r.t, r.res[i].ok, "token", "%s", r.res[i].detail);
		else
			step(&r.t, false, "token", "%s: %s", cfg->resources.v[i], r.stopped);
	}
	if (b->secret_fingerprint[0] != '\0')
		step(&r.t, true, "secret", "fingerprint %s (provider %s)", b->secret_fingerprint,
		    b->secret_provider);
	ready_certificate_step(&r.t, b);
	free(r.res);
	children_stop(b);
	summary(&r.t, "ready");
}

/* ---- --check: everything that can be checked without starting anything -- */

static void
check_file(struct tally *t, const char *what, const char *path, int mode, const char *use)
{
	if (access(path, mode) == 0)
		step(t, true, what, "%s %s", path, use);
	else
		step(t, false, what, "%s: %s", path, strerror(errno));
}

/* secretd and tokend in dir (NULL: the compiled-in LIBEXECDIR); with
 * verbose, a line for each, else only for one that is missing. */
static void
check_programs(struct tally *t, const char *dir, bool verbose)
{
	static const char *const names[] = { "secretd", "tokend" };
	char path[4096];

	for (size_t i = 0; i < 2; i++) {
		children_program_path(dir, names[i], path, sizeof(path));
		if (verbose || access(path, X_OK) == -1)
			check_file(t, names[i], path, X_OK, "is executable");
	}
}

void
selfcheck_ready_programs(const struct config *cfg)
{
	struct tally t = { 0, 0 };

	check_programs(&t, cfg->libexecdir, false);
	if (t.failed)
		summary(&t, "ready");
}

/* The audit file is opened at start for appending, O_NOFOLLOW, created
 * if missing (audit.c): an existing one must be a regular file that opens
 * so; a missing one needs a writable directory.  Nothing is created here. */
static void
check_audit_file(struct tally *t, const char *path)
{
	char dir[4096];
	char *slash;
	struct stat st;
	int fd;

	if (path == NULL) {
		step(t, true, "audit", "records go to stderr (MCP_AUTH_BROKER_AUDIT_FILE unset)");
		return;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			step(t, false, "audit", "%s is not a regular file%s", path,
			    S_ISLNK(st.st_mode) ? " (a symbolic link, which is not followed)" : "");
			return;
		}
		if ((fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)) == -1) {
			step(t, false, "audit", "%s: %s", path, strerror(errno));
			return;
		}
		close(fd);
		step(t, true, "audit", "%s exists and opens for appending", path);
		return;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/'); /* the path is absolute (config.c) */
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	if (access(dir, W_OK | X_OK) == 0)
		step(t, true, "audit", "%s will be created (0600)", path);
	else
		step(t, false, "audit", "%s cannot be created: %s: %s", path, dir, strerror(errno));
}

static void
check_provider(struct tally *t, const struct config *cfg)
{
	struct config_errors errs;
	char path[4096];

	if (secretenv_check(cfg, &errs) == -1) {
		for (size_t i = 0; i < errs.n; i++)
			step(t, false, "secret provider", "%s", errs.v[i]);
		config_errors_free(&errs);
		return;
	}
	switch (cfg->env == BROKER_ENV_SMOKE ? SECRET_PROVIDER_SMOKE : cfg->secret_provider) {
	case SECRET_PROVIDER_SMOKE:
		step(t, true, "secret provider", "smoke: the built-in fake secret");
		break;
	case SECRET_PROVIDER_1PASSWORD:
		if (secretenv_find_op(cfg, getenv("PATH"), path, sizeof(path)) == -1)
			snprintf(path, sizeof(path), "op");
		step(t, true, "secret provider", "1password: %s read %s, service-account token %s", path,
		    cfg->secret_ref,
		    secretenv_op_credential_exists() ? "from the systemd credential" : "from the environment");
		if (access(path, R_OK) == 0)
			step_warn(t, "op binary", "%s " OP_READABLE_ADVICE, path);
		break;
	case SECRET_PROVIDER_FILE:
		if (cfg->secret_ref[0] == '/')
			snprintf(path, sizeof(path), "%s", cfg->secret_ref);
		else if (secretenv_credential_path(getenv(CREDENTIALS_DIR_VAR), cfg->secret_ref, path,
			     sizeof(path)) == -1)
			snprintf(path, sizeof(path), "%s", cfg->secret_ref);
		if (access(path, R_OK) == -1)
			step(t, false, "secret provider", "file: %s: %s", path, strerror(errno));
		else
			step(t, true, "secret provider",
			    "file: %s is readable (secretd checks owner and mode when it reads it)", path);
		break;
	case SECRET_PROVIDER_COMMAND:
		step(t, true, "secret provider", "command: %s %s", cfg->secret_helper, cfg->secret_ref);
		break;
	case SECRET_PROVIDER_ENV:
		step(t, true, "secret provider", "env: %s (for development only)", cfg->secret_ref);
		break;
	default:
		step(t, true, "secret provider", "none: every token request fails secret.unavailable");
		break;
	}
}

/* The certificate credential: its public facts as secretd reads them
 * (secretd --describe-certificate; the key never reaches brokerd), with a
 * warning 30 days before it expires. */
static void
check_certificate(struct tally *t, const struct config *cfg)
{
	struct msg_cert_info ci;
	char line[768], why[512];

	if (cfg->env == BROKER_ENV_SMOKE || cfg->graph_credential != GRAPH_CREDENTIAL_CERTIFICATE)
		return;
	if (secrets_describe_certificate(cfg, &ci, why, sizeof(why)) == -1)
		step(t, false, "certificate", "%s", why);
	else if (secrets_cert_line(&ci, (int64_t)time(NULL), line, sizeof(line)))
		step_warn(t, "certificate", "%s", line);
	else
		step(t, true, "certificate", "%s", line);
}

void
selfcheck_config(void)
{
	struct tally t = { 0, 0 };
	struct config cfg;
	struct config_errors errs;
	const char *dir = NULL;
	bool loaded = config_load(&cfg, environ, &errs) == 0;

	if (loaded) {
		step(&t, true, "configuration", "env %s, tenant %s, %zu resource%s, %zu scope%s, policy %s",
		    config_env_name(cfg.env), cfg.tenant_id, cfg.resources.n,
		    cfg.resources.n == 1 ? "" : "s", cfg.scopes.n, cfg.scopes.n == 1 ? "" : "s",
		    cfg.policy_version);
		check_provider(&t, &cfg);
		check_certificate(&t, &cfg);
		dir = cfg.libexecdir;
	} else {
		for (size_t i = 0; i < errs.n; i++)
			step(&t, false, "configuration", "%s", errs.v[i]);
		config_errors_free(&errs);
		/* What follows does not depend on the rest of the configuration. */
		dir = getenv("MCP_AUTH_BROKER_LIBEXECDIR");
	}
	check_programs(&t, dir, true);
	if (sandbox_available()) {
		step(&t, true, "seccomp", "brokerd, secretd and tokend load their filters");
		if (sandbox_landlock_abi() >= 1)
			step(&t, true, "landlock", "ABI %d: tokend reads only beneath /etc, /usr and /lib",
			    sandbox_landlock_abi());
		else
			step_warn(&t, "landlock",
			    "not available in this kernel: tokend may read any file its user can");
	} else {
		step(&t, false, "seccomp", "built with --disable-seccomp: no filter is loaded");
	}
	if (loaded) {
		if (cfg.env != BROKER_ENV_SMOKE && cfg.ca_file != NULL)
			check_file(&t, "CA file", cfg.ca_file, R_OK, "is readable");
		check_audit_file(&t, cfg.audit_file);
		config_free(&cfg);
	}
	summary(&t, "check");
}
