/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* libFuzzer harness: a client's bytes through brokerd, from the line
 * framing (session_process) through JSON-RPC and MCP dispatch (mcp.c), the
 * request contract (request.c) and policy (policy.c) to what brokerd sends
 * tokend and answers the client (tools.c).
 *
 * Each input is what one client sends on one session, fed in pieces as
 * reads would deliver it, then end of input.  The broker runs the smoke
 * defaults with the smallest line limit and a cap of 4 calls in flight, so
 * both limits are reachable with small inputs; an input whose first line is
 * "#mutations" gets a wider policy instead (mutations on, a path allowlist,
 * two resources and scopes).  The tokend and secretd channels have no
 * descriptor (fd -1): what brokerd sends them is only buffered.  The harness
 * plays tokend: it decodes each request as tokend's channel would, checks it
 * is one tokend accepts (tokend treats anything else as fatal), and answers
 * it through tools_answer - a result, a progress report then a result, or
 * an error - so the result paths run too.
 *
 * Checked (abort): brokerd never exits on client input (libFuzzer reports
 * an exit); nothing reaches tokend that README's policy forbids (the
 * resource, method, path, query, headers, body and timeout of every
 * EXEC_REQ are checked independently of policy.c); every output line is one JSON-RPC 2.0 object, a response with
 * an id and exactly one of result and error, or a notification; every call
 * is answered or dropped by the time the session closes. */
#include "buildconf.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brokerd.h"
#include "jsonx.h"
#include "log.h"
#include "msg.h"
#include "tools.h"

#define MUTATIONS_LINE "#mutations\n"
/* How much input one read delivers: below the line limit, so a long line
 * arrives in pieces and the discarding state crosses reads. */
#define READ_SIZE 1500

static char *const env_smoke[] = {
	"MCP_AUTH_BROKER_ENV=smoke",
	"MCP_AUTH_BROKER_MAX_MESSAGE_BYTES=4096",
	"MCP_AUTH_BROKER_MAX_INFLIGHT=4",
	NULL,
};
static char *const env_wide[] = {
	"MCP_AUTH_BROKER_ENV=smoke",
	"MCP_AUTH_BROKER_MAX_MESSAGE_BYTES=4096",
	"MCP_AUTH_BROKER_MAX_INFLIGHT=4",
	"MCP_AUTH_BROKER_ENABLE_MUTATIONS=true",
	"MCP_AUTH_BROKER_ALLOWED_GRAPH_RESOURCES=https://graph.microsoft.com,https://graph.microsoft.us:443",
	"MCP_AUTH_BROKER_ALLOWED_SCOPES=User.Read.All Group.Read.All",
	"MCP_AUTH_BROKER_ALLOWED_PATHS=GET:/v1.0/users/*,POST:/v1.0/users,PATCH:/v1.0/users/*,"
	"/beta/*/drive/*,DELETE:/v1.0/groups/*,POST:/v1.0/$batch,GET:/v1.0/users/*/memberOf,"
	"POST:/v1.0/groups/*/members/$ref",
	NULL,
};

/* tokend's accept list for brokerd's channel (tokend/main.c). */
static const uint32_t tokend_from_broker[] = { MSG_EXEC_REQ, MSG_DESCRIBE_REQ, MSG_CANCEL_REQ };

static struct broker brokers[2];
static int devnull = -1;
static bool show_output;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
broker_setup(struct broker *b, char *const *envp)
{
	struct config_errors errs;

	memset(b, 0, sizeof(*b));
	memset(&errs, 0, sizeof(errs));
	if (config_load(&b->cfg, envp, &errs) == -1) {
		for (size_t i = 0; i < errs.n; i++)
			log_error("%s", errs.v[i]);
		abort();
	}
	config_errors_free(&errs);
	b->secretd.name = "secretd";
	b->tokend.name = "tokend";
	b->secretd.chan.fd = b->tokend.chan.fd = -1;
	ipc_chan_init(&b->secretd.chan, -1, "secretd", NULL, 0);
	ipc_chan_init(&b->tokend.chan, -1, "tokend", NULL, 0);
	b->sigfd = b->listener = -1;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_mcp", LOG_LEVEL_ERROR);
	broker_setup(&brokers[0], env_smoke);
	broker_setup(&brokers[1], env_wide);
	/* session_new makes its descriptors non-blocking; nothing is read or
	 * written through them here. */
	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		abort();
	show_output = getenv("FUZZ_MCP_SHOW") != NULL;
	return 0;
}

/* ---- playing tokend ------------------------------------------------------ */

/* Feeds what an encoder queued on a scratch channel to brokerd, as the
 * tokend channel would deliver it. */
static void
deliver(struct broker *b, struct ipc_chan *c)
{
	struct ipc_msg m;

	memset(&m, 0, sizeof(m));
	memcpy(&m.hdr, buf_head(&c->out), sizeof(m.hdr));
	m.data = buf_head(&c->out) + sizeof(m.hdr);
	tools_answer(b, &m);
	buf_consume(&c->out, sizeof(m.hdr) + m.hdr.len);
}

/* What tokend answers, varied by the call's id: a result, a retry report
 * then a result, or an error. */
static void
answer_exec(struct broker *b, uint64_t id, const struct graph_request *req)
{
	static const struct msg_token_meta tok = { .source = TOKEN_SOURCE_CACHE,
		.token_type = "Bearer", .expires_at = "2026-11-23T11:00:00Z" };
	struct json_object *ex;
	struct ipc_chan c;

	ipc_chan_init(&c, -1, "fuzz", NULL, 0);
	if (id % 3 == 2) {
		msg_exec_ans_send_error(&c, id,
		    id % 2 ? ERR_PROVIDER_TIMEOUT : ERR_PROVIDER_BAD_RESPONSE,
		    "Graph answered with a body that is not JSON");
		deliver(b, &c);
		ipc_chan_free(&c);
		return;
	}
	if (id % 3 == 1) {
		msg_progress_send(&c, id, "Graph answered 429; retrying in 1 s (attempt 2 of 5)",
		    1000);
		deliver(b, &c);
	}
	/* The request's own body, echoed: the deepest body brokerd can send. */
	ex = msg_execution_new(&(struct msg_graph_meta){ 200, "8d1b6a0e-4c5f-4d7a-9e2b-1f3c5a7b9d11",
				   NULL, NULL, "application/json", NULL },
	    BODY_JSON, req->body ? json_object_get(req->body) : NULL);
	msg_exec_ans_send(&c, id, &tok, ex);
	json_object_put(ex);
	deliver(b, &c);
	ipc_chan_free(&c);
}

static void
answer_describe(struct broker *b, uint64_t id)
{
	struct msg_describe_ans a = { CACHE_STATE_VALID, "Bearer", "2026-11-23T11:00:00Z", 2940,
		false, false };
	struct ipc_chan c;

	ipc_chan_init(&c, -1, "fuzz", NULL, 0);
	msg_describe_ans_send(&c, id, &a);
	deliver(b, &c);
	ipc_chan_free(&c);
}

/* ---- what policy lets through ------------------------------------------- */

/* The safety properties of README's policy table, stated independently of
 * policy.c: whatever a client sends, nothing reaches tokend that breaks one. */
static bool
path_byte_ok(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '\\' && c != '#';
}

static int
hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool
path_safe(const char *p)
{
	size_t n = strlen(p);

	if (!((strncmp(p, "/v1.0/", 6) == 0 || strncmp(p, "/beta/", 6) == 0) && n > 6))
		return false;
	if (strstr(p, "//") != NULL || strstr(p, "/./") != NULL || strstr(p, "/../") != NULL)
		return false;
	if ((n >= 2 && strcmp(p + n - 2, "/.") == 0) || (n >= 3 && strcmp(p + n - 3, "/..") == 0))
		return false;
	if (memchr(p + 6, ':', strcspn(p + 6, "/")) != NULL) /* "/v1.0/https:..." */
		return false;
	for (size_t i = 0; i < n; i++) {
		int c;

		if (!path_byte_ok((unsigned char)p[i]))
			return false;
		if (p[i] != '%')
			continue;
		if (i + 2 >= n || hex(p[i + 1]) < 0 || hex(p[i + 2]) < 0)
			return false;
		c = hex(p[i + 1]) * 16 + hex(p[i + 2]);
		if (c < 0x20 || c == 0x7f || c == '.' || c == '/' || c == '\\' || c == '%')
			return false;
	}
	return true;
}

static bool
forwarded(const char *name)
{
	static const char *const ok[] = { POLICY_FORWARDED_HEADERS };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(name, ok[i]) == 0)
			return true;
	return false;
}

static void
check_exec_req(const struct broker *b, const struct graph_request *req)
{
	const char *method = req->method;
	bool mutation = strcmp(method, "GET") != 0;
	struct policy_decision d;
	char key[512];

	if (!policy_resource_key(req->resource, key, sizeof(key)) ||
	    !config_resource_allowed(&b->cfg, key))
		abort();
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 &&
	    strcmp(method, "PUT") != 0 && strcmp(method, "PATCH") != 0 &&
	    strcmp(method, "DELETE") != 0)
		abort();
	if (mutation && !b->cfg.enable_mutations)
		abort();
	if (!path_safe(req->path))
		abort();
	for (const char *q = req->query; q != NULL && *q != '\0'; q++)
		if (*q < 0x21 || *q > 0x7e || *q == '#')
			abort();
	for (size_t i = 0; i < req->n_headers; i++) {
		if (!forwarded(req->headers[i].name))
			abort();
		for (const char *c = req->headers[i].value; *c != '\0'; c++)
			if (*c != '\t' && (*c < 0x20 || *c > 0x7e))
				abort();
	}
	if (req->body != NULL && (strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0 &&
				     strcmp(method, "PATCH") != 0))
		abort();
	if (req->timeout_ms < 100 || req->timeout_ms > 120000)
		abort();
	/* The monitor's check in tokend: whatever a client made brokerd send,
	 * tokend's own policy allows it, and it carries no header tokend would
	 * have to call a broken invariant. */
	policy_decide(&b->cfg, req, &d);
	if (!d.allow || d.n_stripped != 0)
		abort();
}

/* Decodes what brokerd queued for tokend as tokend's channel would, checks
 * it is what tokend's dispatch accepts and what policy may let through, and
 * answers each call. */
static void
serve_tokend(struct broker *b, bool reply)
{
	struct ipc_chan t;
	struct ipc_msg m;
	int st;

	ipc_chan_init(&t, -1, "brokerd", tokend_from_broker,
	    sizeof(tokend_from_broker) / sizeof(tokend_from_broker[0]));
	if (buf_append(&t.in, buf_head(&b->tokend.chan.out), buf_avail(&b->tokend.chan.out)) == -1)
		abort();
	buf_consume(&b->tokend.chan.out, buf_avail(&b->tokend.chan.out));
	t.eof = 1;
	while ((st = ipc_next(&t, &m)) == IPC_OK) {
		struct msg_exec_req x;
		const char *why = NULL;
		char resource[512];

		if (m.hdr.type == MSG_CANCEL_REQ) {
			if (msg_cancel_req_decode(&m, &why) != 0)
				abort();
		} else if (m.hdr.type == MSG_DESCRIBE_REQ) {
			if (msg_describe_req_decode(&m, resource, sizeof(resource), &why) != 0 ||
			    !config_resource_allowed(&b->cfg, resource))
				abort();
			if (reply)
				answer_describe(b, m.hdr.id);
		} else {
			if (msg_exec_req_decode(&m, &x, &why) != 0 || x.token_only)
				abort();
			check_exec_req(b, &x.req);
			if (reply)
				answer_exec(b, m.hdr.id, &x.req);
			msg_exec_req_free(&x);
		}
		ipc_done(&t, &m);
	}
	if (st != IPC_NEED_MORE)
		abort();
	ipc_chan_free(&t);
}

/* ---- what the client reads ---------------------------------------------- */

static bool
id_ok(struct json_object *id)
{
	return id == NULL || json_object_is_type(id, json_type_string) ||
	    json_object_is_type(id, json_type_int);
}

static void
check_line(const char *p, size_t n)
{
	struct json_object *o = jx_parse(p, n, NULL), *id = NULL, *err;
	bool has_id, has_result, has_error;

	if (o == NULL || !json_object_is_type(o, json_type_object))
		abort();
	if (jx_get_str(o, "jsonrpc") == NULL || strcmp(jx_get_str(o, "jsonrpc"), "2.0") != 0)
		abort();
	has_id = json_object_object_get_ex(o, "id", &id);
	has_result = jx_get(o, "result") != NULL;
	has_error = jx_get(o, "error") != NULL;
	if (jx_get_str(o, "method") != NULL) {
		if (has_id || has_result || has_error)
			abort();
	} else {
		if (!has_id || !id_ok(id) || has_result == has_error)
			abort();
		err = jx_get_obj(o, "error");
		if (has_error && (err == NULL || jx_get(err, "code") == NULL ||
		    !json_object_is_type(jx_get(err, "code"), json_type_int) ||
		    jx_get_str(err, "message") == NULL))
			abort();
		if (has_result && jx_get_obj(o, "result") == NULL)
			abort();
	}
	json_object_put(o);
}

static void
check_output(const struct buf *out)
{
	const char *p = (const char *)buf_head(out), *end = p + buf_avail(out);

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL) /* every message ends its line */
			abort();
		check_line(p, (size_t)(nl - p));
		p = nl + 1;
	}
}

/* ---- one client ----------------------------------------------------------- */

/* Lets the session handle what it can, answering calls as tokend would,
 * until it stops making progress. */
static void
run_session(struct broker *b, struct session *s)
{
	size_t before;

	do {
		before = buf_avail(&s->in);
		session_process(b, s);
		serve_tokend(b, true);
	} while (buf_avail(&s->in) > 0 && buf_avail(&s->in) != before);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct broker *b = &brokers[0];
	struct session *s;
	size_t fed = 0;

	if (size >= strlen(MUTATIONS_LINE) &&
	    memcmp(data, MUTATIONS_LINE, strlen(MUTATIONS_LINE)) == 0) {
		b = &brokers[1];
		data += strlen(MUTATIONS_LINE);
		size -= strlen(MUTATIONS_LINE);
	}
	s = session_new(b, SESSION_STDIO, devnull, devnull);
	while (fed < size) {
		size_t n = size - fed < READ_SIZE ? size - fed : READ_SIZE;

		if (buf_append(&s->in, data + fed, n) == -1)
			abort();
		fed += n;
		run_session(b, s);
	}
	s->in_eof = true;
	run_session(b, s);
	if (show_output) /* FUZZ_MCP_SHOW=1: what the client would read */
		fwrite(buf_head(&s->out), 1, buf_avail(&s->out), stderr);
	check_output(&s->out);
	if (s->inflight != 0 || buf_avail(&s->in) != 0)
		abort(); /* every line was handled and every call answered above */
	session_close(b, s);
	/* Closing cancels what was left in flight: CANCEL_REQs, no answers. */
	serve_tokend(b, false);
	if (b->calls != NULL || b->sessions != NULL || b->n_sessions != 0)
		abort();
	return 0;
}
