/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* brokerd --health and --smoke-e2e: brokerd checks itself as a client would.
 *
 * --health and --smoke-e2e check it as an MCP client would see it.
 * The process forks once its configuration has been checked.  The child
 * goes on as the ordinary stdio broker (children, IPC, sandbox, policy,
 * audit: nothing is bypassed) with one end of a socketpair as its stdin and
 * stdout.  The parent drops every credential from its environment and
 * speaks MCP over the other end: one line on stdout per step ("ok" or
 * "fail", what was checked, what was seen), then a summary.  At the end it
 * closes its end, and the broker must then exit 0 with its children, as it
 * does at the end of any stdio session.
 *
 * --check (selfcheck_config.c) and --ready (selfcheck_ready.c) are their
 * own files. */
#include "buildconf.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "brokerd.h"
#include "jsonx.h"
#include "log.h"
#include "msg.h"
#include "report.h"
#include "secretenv.h"
#include "timeutil.h"
#include "tools.h"

/* Per answer: long enough for a secret helper's timeout and a token
 * request, short enough that a wedged broker is reported, not waited on. */
#define SELFCHECK_STEP_MS 30000
#define SELFCHECK_REQUESTER "brokerd-selfcheck"

struct probe {
	struct report t;
	int fd;
	pid_t broker;
	struct buf in;
	int64_t next_id;
	const struct config *cfg;
};

static void __attribute__((format(printf, 4, 5)))
step(struct report *t, bool ok, const char *what, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_vadd(t, ok ? VERDICT_OK : VERDICT_FAIL, what, NULL, fmt, ap);
	va_end(ap);
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
	const char *want_execute = tools_listed_name(p->cfg, TOOL_EXECUTE);
	const char *want_describe = tools_listed_name(p->cfg, TOOL_DESCRIBE);
	bool execute = false, describe = false;

	if (resp == NULL) {
		step(&p->t, false, "tools/list", "%s", why);
		return;
	}
	res = jx_get_obj(resp, "result");
	tools = res ? jx_get_arr(res, "tools") : NULL;
	for (size_t i = 0; tools != NULL && i < json_object_array_length(tools); i++) {
		const char *name = jx_get_str(json_object_array_get_idx(tools, i), "name");
		execute |= name != NULL && strcmp(name, want_execute) == 0;
		describe |= name != NULL && strcmp(name, want_describe) == 0;
	}
	if (execute && describe)
		step(&p->t, true, "tools/list", "%s, %s", want_execute, want_describe);
	else
		step(&p->t, false, "tools/list", "missing:%s%s%s%s", execute ? "" : " ",
		    execute ? "" : want_execute, describe ? "" : " ", describe ? "" : want_describe);
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

	call_tool(p, tools_listed_name(p->cfg, TOOL_DESCRIBE), json_object_new_object(), &r);
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

/* The whole contract; with request_id NULL, only what a call must give
 * (method and path), so the defaults are exercised too. */
static struct json_object *
execute_args(const struct probe *p, const char *request_id, const char *path)
{
	struct json_object *a = json_object_new_object(), *o = json_object_new_object();
	struct json_object *scopes;

	if (request_id == NULL) {
		jx_add_str(o, "method", "GET");
		jx_add_str(o, "path", path);
		jx_add(a, "operation", o);
		return a;
	}
	scopes = json_object_new_array();
	jx_add_str(a, "contract_version", REQ_CONTRACT_VERSION);
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

	call_tool(p, tools_listed_name(p->cfg, TOOL_EXECUTE),
	    execute_args(p, request_id, "/v1.0/organization"), &r);
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

	call_tool(p, tools_listed_name(p->cfg, TOOL_EXECUTE),
	    execute_args(p, "selfcheck-denied", "/v1.0/users/../../admin"), &r);
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
			/* Method and path only: the defaults an agent relies on. */
			check_execute(p, "execute (cached)", NULL, "cache");
			check_denied(p);
			check_describe(p, "describe (warm)", "valid");
		}
	}
	check_shutdown(p);
	buf_free(&p->in);
	report_end(&p->t);
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
	if (cfg->env != BROKER_ENV_SMOKE && cfg->secret_provider == SECRET_PROVIDER_ENV) {
		secretenv_take(cfg->secret_ref, NULL);
		if (cfg->certificate_passphrase_ref != NULL)
			secretenv_take(cfg->certificate_passphrase_ref, NULL);
	}
	memset(&p.in, 0, sizeof(p.in));
	buf_init(&p.in);
	p.fd = sv[0];
	p.next_id = 0;
	report_init(&p.t, mode == SELFCHECK_HEALTH ? "health" : "smoke-e2e", false);
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

