/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* GET /ready: brokerd --ready's question asked of the running daemon.
 * brokerd sends tokend one token-only EXEC_REQ per allowed resource, the
 * request --ready sends: tokend re-checks it against its policy, answers
 * from its cache or logs in through its single flight, and answers with
 * the token's metadata, never the token.  The probe's answer says, per
 * resource, ok or the error code; no message, expiry or role (a login
 * failure's message may quote the app's identifiers), since a probe is not
 * authenticated. */
#include "buildconf.h"

#include <stdlib.h>
#include <string.h>

#include "http_request.h"
#include "jsonx.h"
#include "log.h"
#include "timeutil.h"

bool
http_ready_fresh(const struct http_ctx *h, int64_t now)
{
	return !h->ready.checking && h->ready.have_result &&
	       now - h->ready.checked_ms < h->b->cfg.http_ready_cache_s * 1000;
}

static void
ready_end(struct http_ctx *h)
{
	h->ready.checking = false;
	h->ready.have_result = true;
	h->ready.checked_ms = mono_ms();
}

/* The budget --ready gives a login (selfcheck_ready.c): the secret and the
 * endpoint twice (a retry with a fresh secret), and one back-off. */
static long
ready_budget_ms(const struct config *cfg)
{
	long ms = 2 * (cfg->secret_timeout_s + cfg->token_provider_timeout_s) * 1000 + 1000;

	return ms > REQ_TIMEOUT_MAX_MS ? REQ_TIMEOUT_MAX_MS : ms;
}

void
http_ready_start(struct http_ctx *h)
{
	struct broker *b = h->b;
	struct http_ready *r = &h->ready;
	long budget = ready_budget_ms(&b->cfg);

	if (r->checking)
		return;
	http_ready_free(h);
	r->n = b->cfg.resources.n;
	if ((r->code = calloc(r->n ? r->n : 1, sizeof(*r->code))) == NULL ||
	    (r->done = calloc(r->n ? r->n : 1, sizeof(*r->done))) == NULL)
		fatalx("out of memory");
	r->checking = true;
	r->answered = 0;
	r->first_id = b->next_ipc_id + 1;
	r->deadline_ms = mono_ms() + budget + CALL_BACKSTOP_MS;
	for (size_t i = 0; i < r->n; i++)
		msg_exec_req_send_token_only(&b->tokend.chan, ++b->next_ipc_id, b->cfg.tenant_id,
		                             b->cfg.resources.v[i], budget);
	log_debug("http: readiness check of %zu resource(s)", r->n);
	if (r->n == 0)
		ready_end(h);
}

bool
http_ready_answer(struct broker *b, const struct ipc_msg *m)
{
	struct http_ready *r;
	struct msg_exec_ans a;
	struct msg_progress p;
	const char *why = NULL;
	size_t i;

	if (b->http == NULL || !(r = &b->http->ready)->checking || m->hdr.id < r->first_id ||
	    m->hdr.id - r->first_id >= r->n)
		return false;
	i = (size_t)(m->hdr.id - r->first_id);
	if (m->hdr.type == MSG_PROGRESS) { /* a retried login: the answer follows */
		if (msg_progress_decode(m, &p, &why) == -1)
			fatalx("malformed PROGRESS from tokend: %s", why);
		return true;
	}
	if (m->hdr.type != MSG_EXEC_ANS || r->done[i])
		fatalx("tokend answered readiness request %llu with %s",
		       (unsigned long long)m->hdr.id, ipc_type_name(m->hdr.type));
	if (msg_exec_ans_decode(m, &a, &why) == -1)
		fatalx("malformed EXEC_ANS from tokend: %s", why);
	r->code[i] = a.code;
	if (a.code != ERR_NONE)
		log_warnx("http: readiness: %s: %s: %s", b->cfg.resources.v[i], err_name(a.code),
		          a.message);
	msg_exec_ans_free(&a);
	r->done[i] = true;
	if (++r->answered == r->n)
		ready_end(b->http);
	return true;
}

void
http_ready_expire(struct http_ctx *h, int64_t now)
{
	struct http_ready *r = &h->ready;

	if (!r->checking || now < r->deadline_ms)
		return;
	for (size_t i = 0; i < r->n; i++) {
		if (r->done[i])
			continue;
		/* tokend sends nothing more for it. */
		msg_cancel_req_send(&h->b->tokend.chan, r->first_id + i);
		r->code[i] = ERR_PROVIDER_TIMEOUT;
		r->done[i] = true;
	}
	log_warnx("http: readiness: no answer from tokend in time");
	ready_end(h);
}

int64_t
http_ready_deadline(const struct http_ctx *h)
{
	return h->ready.checking ? h->ready.deadline_ms : -1;
}

bool
http_ready_take(struct http_ctx *h, struct http_answer *a)
{
	const struct http_ready *r = &h->ready;
	struct json_object *o, *list;
	bool ok = r->n > 0;
	const char *text;
	size_t len;

	if (r->checking || !r->have_result)
		return false;
	memset(a, 0, sizeof(*a));
	o = json_object_new_object();
	list = json_object_new_array();
	for (size_t i = 0; i < r->n; i++) {
		struct json_object *e = json_object_new_object();
		jx_add_str(e, "resource", h->b->cfg.resources.v[i]);
		jx_add_str(e, "status", r->code[i] == ERR_NONE ? "ok" : err_name(r->code[i]));
		json_object_array_add(list, e);
		ok = ok && r->code[i] == ERR_NONE;
	}
	jx_add_str(o, "status", ok ? "ready" : "not_ready");
	jx_add(o, "resources", list);
	text = jx_text(o, &len);
	http_answer_text(a, ok ? 200 : 503, text, len);
	json_object_put(o);
	return true;
}

void
http_ready_free(struct http_ctx *h)
{
	free(h->ready.code);
	free(h->ready.done);
	h->ready.code = NULL;
	h->ready.done = NULL;
	h->ready.have_result = false;
}
