/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* tokend: serves brokerd's Graph calls.  One event loop — curl's multi
 * handle plus the brokerd and secretd channels plus the timers of calls in
 * flight — so a call waiting on a login or on Graph never holds up another. */
#include "buildconf.h"

#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "jsonx.h"
#include "log.h"
#include "proc.h"
#include "sandbox.h"
#include "timeutil.h"
#include "tokend.h"

static const uint32_t from_broker[] = { MSG_EXEC_REQ, MSG_DESCRIBE_REQ, MSG_CANCEL_REQ,
	MSG_JWKS_REQ };
static const uint32_t from_secretd[] = { MSG_SECRET_ANS, MSG_SECRET_ERR, MSG_ASSERTION_ANS };

/* ---- calls ------------------------------------------------------------- */

/* Kept in arrival order, so calls waiting on one login resume in order. */
static void
exec_append(struct tokend *td, struct exec *x)
{
	struct exec **pp = &td->calls;

	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = x;
}

static void
exec_remove(struct tokend *td, struct exec *x)
{
	for (struct exec **pp = &td->calls; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	}
	if (x->xfer != NULL)
		xfer_abort(td, x->xfer);
	request_free(&x->req);
	json_object_put(x->answer);
	json_object_put(x->paged);
	free(x);
}

/* The token's metadata, for the answer. */
static void
exec_token_meta(const struct exec *x, struct msg_token_meta *t)
{
	memset(t, 0, sizeof(*t));
	t->source = x->source;
	snprintf(t->token_type, sizeof(t->token_type), "%s", x->entry->token_type);
	/* Once sent, the token the request carried: the entry may hold a
	 * successor by now, or nothing (a 401 dropped it: never 1970). */
	iso8601_utc(x->sent_generation != 0 ? x->sent_expires_at : x->entry->expires_at,
	    t->expires_at, sizeof(t->expires_at));
	/* brokerd --ready compares them with the policy; a call's answer
	 * does not carry them. */
	if (x->token_only && x->entry->has_roles) {
		_Static_assert(sizeof(t->roles) >= sizeof(x->entry->roles), "roles fit");
		t->has_roles = true;
		snprintf(t->roles, sizeof(t->roles), "%s", x->entry->roles);
	}
}

void
exec_answer(struct tokend *td, struct exec *x, struct json_object *execution)
{
	struct msg_token_meta t;

	exec_token_meta(x, &t);
	if (msg_exec_ans_try_send(&td->broker, x->id, &t, execution) == -1)
		msg_exec_ans_send_error(&td->broker, x->id, ERR_PROVIDER_BAD_RESPONSE,
		    "Graph's answer is too large to pass on once encoded (escaped text or base64)");
	json_object_put(execution);
	exec_remove(td, x);
}

void
exec_fail(struct tokend *td, struct exec *x, enum err_code code, const char *msg)
{
	msg_exec_ans_send_error(&td->broker, x->id, code, msg);
	exec_remove(td, x);
}

/* The token is usable: make the Graph call.  brokerd --ready wants only to
 * know a token can be had, and gets its metadata (never the token). */
static void
exec_proceed(struct tokend *td, struct exec *x)
{
	const char *missing;
	char msg[512];

	if (x->token_only) {
		exec_answer(td, x, NULL);
		return;
	}
	/* Policy allowed the scopes the call declares; the token must carry
	 * them too, or Graph would answer 403 (a token that is not a JWT,
	 * as in smoke mode, has no roles to judge by). */
	if (x->entry->has_roles &&
	    (missing = claims_missing_role(x->entry->roles, &x->req.scopes)) != NULL) {
		snprintf(msg, sizeof(msg),
		    "scope '%.*s' is not among the token's roles: the app registration lacks the "
		    "application permission %.*s (grant it and admin consent)",
		    QUOTE_LEN, missing, QUOTE_LEN, missing);
		exec_fail(td, x, ERR_POLICY_INVALID_SCOPE, msg);
		return;
	}
	graph_start(td, x);
}

/* ---- counters for brokerd's GET /metrics ------------------------------- */

/* Sent as they change, ahead of the answer they concern, so a scrape after
 * a call's answer sees that call counted.  brokerd asks for nothing. */
void
stats_changed(struct tokend *td)
{
	msg_token_stats_send(&td->broker, &td->stats);
}

/* ---- logins (single flight per cache key) ------------------------------ */

void
mint_ask_secret(struct tokend *td, struct token_entry *e, bool fresh)
{
	e->mint_id = ++td->next_mint_id;
	e->awaiting_secret = true;
	/* A certificate's key stays in secretd, which also reads the federated
	 * token file: ask for the client assertion. */
	if (config_credential_is_assertion(td->cfg.graph_credential))
		msg_assertion_req_send(&td->secretd, e->mint_id, fresh);
	else
		msg_secret_req_send(&td->secretd, e->mint_id, fresh);
}

static void
mint_begin(struct tokend *td, struct token_entry *e)
{
	e->minting = true;
	e->fresh_secret = false;
	e->login_attempts = 0;
	e->login_retry_at_ms = 0;
	e->login_deadline_ms = mono_ms() + td->cfg.token_provider_timeout_s * 1000;
	/* IMDS needs no secret: the endpoint knows the host. */
	if (td->cfg.env != BROKER_ENV_SMOKE &&
	    td->cfg.graph_credential == GRAPH_CREDENTIAL_MANAGED_IDENTITY && !td->cfg.mi_app_service) {
		identity_start(td, e, NULL, 0);
		return;
	}
	if (td->secretd.eof) {
		mint_done(td, e, ERR_SECRET_UNAVAILABLE, "secretd is gone", -1, NULL);
		return;
	}
	mint_ask_secret(td, e, false);
}

bool
mint_retry_with_fresh_secret(struct tokend *td, struct token_entry *e)
{
	if (e->fresh_secret || td->secretd.eof)
		return false;
	e->fresh_secret = true;
	mint_ask_secret(td, e, true);
	return true;
}

void
mint_done(struct tokend *td, struct token_entry *e, enum err_code code, const char *msg,
    long retry_after_s, const char *failure_sig)
{
	struct exec *x, *next;

	e->minting = false;
	e->awaiting_secret = false;
	e->login_retry_at_ms = 0;
	if (code == ERR_NONE) {
		cache_note_success(e);
		td->stats.mints++;
	} else {
		cache_note_failure(&td->cache, e, code, msg, failure_sig, retry_after_s);
		log_warnx("login for %s failed: %s: %s", e->resource, err_name(code), msg);
		td->stats.mint_failures++;
	}
	stats_changed(td);
	for (x = td->calls; x != NULL; x = next) {
		next = x->next;
		if (x->entry != e || x->state != EXEC_WAIT_TOKEN)
			continue;
		if (code == ERR_NONE || cache_usable(&td->cache, e)) {
			x->source = code == ERR_NONE ? TOKEN_SOURCE_MINTED : TOKEN_SOURCE_FALLBACK;
			exec_proceed(td, x);
		} else {
			exec_fail(td, x, code, msg);
		}
	}
}

static void
mint_with_secret(struct tokend *td, struct token_entry *e, const unsigned char *secret, size_t len)
{
	char token[128];

	if (td->cfg.env != BROKER_ENV_SMOKE &&
	    td->cfg.graph_credential == GRAPH_CREDENTIAL_MANAGED_IDENTITY) {
		identity_start(td, e, secret, len);
		return;
	}
	if (td->cfg.env != BROKER_ENV_SMOKE) {
		oauth_start(td, e, secret, len);
		return;
	}
	smoke_mint(secret, len, e->tenant, e->resource, token, sizeof(token));
	if (cache_store(&td->cache, e, token, strlen(token), "Bearer", SMOKE_EXPIRES_IN) == -1)
		fatalx("out of guarded memory");
	sodium_memzero(token, sizeof(token));
	mint_done(td, e, ERR_NONE, NULL, -1, NULL);
}

/* ---- brokerd's requests ------------------------------------------------ */

static void
exec_serve(struct tokend *td, struct exec *x)
{
	struct token_entry *e = x->entry;
	char msg[320];

	if (cache_usable(&td->cache, e)) {
		x->source = e->refresh_failed ? TOKEN_SOURCE_FALLBACK : TOKEN_SOURCE_CACHE;
		td->stats.cache_hits++;
		stats_changed(td);
		if (cache_wants_refresh(&td->cache, e))
			mint_begin(td, e); /* in the background: this call does not wait */
		exec_proceed(td, x);
	} else if (cache_throttled(&td->cache, e) && !e->minting) {
		snprintf(msg, sizeof(msg), "login requests throttled for %lds after: %s",
		    (long)(e->throttled_until - td->cache.now()), e->throttle_msg);
		exec_fail(td, x, e->throttle_code, msg);
	} else {
		x->state = EXEC_WAIT_TOKEN;
		if (!e->minting)
			mint_begin(td, e);
	}
}

/* The monitor's check (DESIGN.md section 1): brokerd decided with this
 * policy; tokend decides again, with its own copy of the configuration,
 * before it mints or sends anything.  A request policy refuses, or one
 * carrying a header policy would have stripped, means brokerd is no longer
 * the program it was: nothing is sent, and tokend exits (brokerd then
 * exits 70). */
/* The caller brokerd vouches for, proved again here (jwks.c): -1 when
 * the call must be refused for time alone (answered, not fatal). */
static int
monitor_check_caller(const struct tokend *td, uint64_t id, const struct msg_exec_req *x,
    struct req_caller *caller, const char **why)
{
	bool fatal;

	if (x->caller.credential == NULL)
		return 0;
	if (jwks_verify_caller(td, &x->caller, x->req.requester_id, caller, &fatal, why) == 0)
		return 1;
	if (fatal)
		fatalx("broken invariant: EXEC_REQ %" PRIu64 " from brokerd: the caller's %s does "
		       "not prove its requester (%s); nothing was sent",
		    id, x->caller.method, *why);
	return -1;
}

static void
monitor_check_exec(const struct tokend *td, uint64_t id, const struct msg_exec_req *x)
{
	struct policy_decision d;

	if (x->token_only)
		policy_decide_target(&td->cfg, &x->req, &d);
	else
		policy_decide(&td->cfg, &x->req, &d);
	if (!d.allow)
		fatalx("broken invariant: EXEC_REQ %" PRIu64 " from brokerd is refused by policy "
		       "(%s: %s); nothing was sent",
		    id, d.reason, d.message);
	if (d.n_stripped > 0)
		fatalx("broken invariant: EXEC_REQ %" PRIu64 " from brokerd carries a header policy "
		       "does not forward; nothing was sent",
		    id);
}

static void
tokend_exec_req(struct tokend *td, const struct ipc_msg *m)
{
	struct exec *x = calloc(1, sizeof(*x));
	struct msg_exec_req req;
	const char *why = NULL;
	char key[512];

	if (x == NULL)
		fatalx("out of memory");
	/* A peer's malformed message is fatal (DESIGN.md section 2). */
	if (msg_exec_req_decode(m, &req, &why) == -1)
		fatalx("malformed EXEC_REQ %" PRIu64 " from brokerd: %s", m->hdr.id, why);
	/* Who is calling, before what they may do: policy's per-caller rules
	 * look at the caller verified here, never at brokerd's word. */
	switch (monitor_check_caller(td, m->hdr.id, &req, &x->caller, &why)) {
	case -1:
		log_warnx("call %" PRIu64 ": the caller's credential no longer holds: %s", m->hdr.id,
		    why);
		msg_exec_ans_send_error(&td->broker, m->hdr.id, ERR_POLICY_MISSING_IDENTITY,
		    "the caller's credential expired before the call reached Graph: "
		    "get a new token and retry");
		msg_exec_req_free(&req);
		free(x);
		return;
	case 1:
		req.req.caller = &x->caller;
		break;
	default:
		req.req.caller = NULL;
	}
	monitor_check_exec(td, m->hdr.id, &req);
	/* Policy allowed the resource, so it has a key: the cache's. */
	if (!policy_resource_key(req.req.resource, key, sizeof(key)))
		fatalx("allowed resource without a key");
	x->id = m->hdr.id;
	x->req = req.req;
	x->token_only = req.token_only;
	x->deadline_ms = mono_ms() + x->req.timeout_ms;
	memset(&req.req, 0, sizeof(req.req)); /* now the exec's */
	msg_exec_req_free(&req);	      /* the credential, wiped */
	x->entry = cache_entry(&td->cache, td->cfg.tenant_id, td->cfg.client_id, key);
	exec_append(td, x);
	exec_serve(td, x);
}

static void
tokend_describe_req(struct tokend *td, const struct ipc_msg *m)
{
	static const enum msg_cache_state states[] = { CACHE_STATE_EMPTY, CACHE_STATE_VALID,
		CACHE_STATE_EXPIRED };
	struct msg_describe_ans a;
	struct token_entry *e;
	char resource[512], key[512];
	const char *why = NULL;
	enum cache_state st;

	if (msg_describe_req_decode(m, resource, sizeof(resource), &why) == -1)
		fatalx("malformed DESCRIBE_REQ %" PRIu64 " from brokerd: %s", m->hdr.id, why);
	/* The monitor's check: brokerd describes allowed resources only. */
	if (!policy_resource_key(resource, key, sizeof(key)) ||
	    !config_resource_allowed(&td->cfg, key))
		fatalx("broken invariant: DESCRIBE_REQ %" PRIu64 " from brokerd names a resource "
		       "that is not allowed",
		    m->hdr.id);
	e = cache_find(&td->cache, td->cfg.tenant_id, td->cfg.client_id, key);
	st = cache_state(&td->cache, e);
	memset(&a, 0, sizeof(a));
	a.state = states[st];
	if (st != CACHE_EMPTY) {
		iso8601_utc(e->expires_at, a.expires_at, sizeof(a.expires_at));
		snprintf(a.token_type, sizeof(a.token_type), "%s", e->token_type);
		a.expires_in_s = e->expires_at - td->cache.now();
	}
	a.refreshing = e != NULL && e->minting;
	a.throttled = e != NULL && cache_throttled(&td->cache, e);
	msg_describe_ans_send(&td->broker, m->hdr.id, &a);
}

/* The client cancelled the call or went away: stop it and send nothing.
 * exec_remove aborts a running transfer; a call waiting on a shared login
 * just stops waiting.  An id we no longer know has just been answered. */
static void
tokend_cancel_req(struct tokend *td, uint64_t id)
{
	struct exec *x;

	for (x = td->calls; x != NULL && x->id != id; x = x->next)
		;
	if (x == NULL) {
		log_debug("cancel for call %" PRIu64 ": not in flight (already answered)", id);
		return;
	}
	log_debug("call %" PRIu64 " cancelled by brokerd%s", id,
	    x->xfer != NULL ? ": transfer aborted" : "");
	exec_remove(td, x);
}

void
exec_progress(struct tokend *td, struct exec *x, const char *message, int64_t retry_in_ms)
{
	msg_progress_send(&td->broker, x->id, message, retry_in_ms);
}

static void
tokend_dispatch_broker(struct tokend *td, const struct ipc_msg *m)
{
	const char *why = NULL;

	if (m->hdr.type == MSG_CANCEL_REQ) {
		if (msg_cancel_req_decode(m, &why) == -1)
			fatalx("malformed CANCEL_REQ %" PRIu64 " from brokerd: %s", m->hdr.id, why);
		tokend_cancel_req(td, m->hdr.id);
	} else if (m->hdr.type == MSG_EXEC_REQ) {
		tokend_exec_req(td, m);
	} else if (m->hdr.type == MSG_JWKS_REQ) {
		if (msg_jwks_req_decode(m, &why) == -1)
			fatalx("malformed JWKS_REQ from brokerd: %s", why);
		jwks_refresh_req(td);
	} else {
		tokend_describe_req(td, m);
	}
}

static void
tokend_dispatch_secretd(struct tokend *td, const struct ipc_msg *m)
{
	struct token_entry *e = cache_find_minting(&td->cache, m->hdr.id);
	struct msg_error err;
	const char *why = NULL;

	if (e == NULL || !e->awaiting_secret)
		fatalx("answer from secretd for unknown request %" PRIu64, m->hdr.id);
	e->awaiting_secret = false;
	if (m->hdr.type == MSG_SECRET_ANS || m->hdr.type == MSG_ASSERTION_ANS) {
		bool assertion = m->hdr.type == MSG_ASSERTION_ANS;
		if (assertion != config_credential_is_assertion(td->cfg.graph_credential))
			fatalx("secretd answered %s, which tokend did not ask for",
			    ipc_type_name(m->hdr.type));
		if ((assertion ? msg_assertion_ans_decode(m, &why) : msg_secret_ans_decode(m, &why)) ==
		    -1)
			fatalx("malformed %s from secretd: %s", ipc_type_name(m->hdr.type), why);
		mint_with_secret(td, e, m->data, m->hdr.len);
		return;
	}
	if (msg_secret_err_decode(m, &err, &why) == -1)
		fatalx("malformed SECRET_ERR from secretd: %s", why);
	mint_done(td, e, err.code, err.message, -1, NULL);
}

/* ---- the loop ---------------------------------------------------------- */

static int
tokend_service(struct tokend *td, struct ipc_chan *c,
    void (*dispatch)(struct tokend *, const struct ipc_msg *))
{
	struct ipc_msg m;

	if (ipc_read(c) == -1 && errno != ECONNRESET)
		fatal("read from %s", c->peer);
	while (ipc_next_checked(c, &m) == IPC_OK) {
		dispatch(td, &m);
		ipc_done(c, &m);
	}
	return !c->eof;
}

/* brokerd has gone (it stops after cancelling what is in flight): what
 * it sent before going is still to be read, a cancellation among it, and
 * is dispatched before the orderly end; nothing more is written. */
static void
tokend_broker_gone(struct tokend *td)
{
	struct ipc_msg m;

	log_debug("brokerd has gone: reading what it sent, then stopping");
	for (int i = 0; i < 64 && !td->broker.eof; i++) {
		ssize_t n = ipc_read(&td->broker);
		while (ipc_next_checked(&td->broker, &m) == IPC_OK) {
			tokend_dispatch_broker(td, &m);
			ipc_done(&td->broker, &m);
		}
		if (n < 0) /* nothing more to read, or reset */
			break;
	}
}

/* secretd gone: no login waiting for a secret will get one. */
static void
tokend_secretd_lost(struct tokend *td)
{
	log_warnx("secretd closed its channel");
	for (struct token_entry *e = td->cache.head; e != NULL; e = e->next)
		if (e->minting && e->awaiting_secret)
			mint_done(td, e, ERR_SECRET_UNAVAILABLE, "secretd is gone", -1, NULL);
}

/* A managed-identity login whose back-off has passed tries again; the
 * agent's header is asked of secretd again rather than kept here. */
static void
tokend_login_retries(struct tokend *td, int64_t now)
{
	for (struct token_entry *e = td->cache.head; e != NULL; e = e->next) {
		if (!e->minting || e->login_retry_at_ms == 0 || e->login_retry_at_ms > now)
			continue;
		e->login_retry_at_ms = 0;
		if (!td->cfg.mi_app_service)
			identity_start(td, e, NULL, 0);
		else if (td->secretd.eof)
			mint_done(td, e, ERR_SECRET_UNAVAILABLE, "secretd is gone", -1, NULL);
		else
			mint_ask_secret(td, e, false);
	}
}

static void
tokend_timers(struct tokend *td)
{
	int64_t now = mono_ms();
	struct exec *x, *next;

	tokend_login_retries(td, now);
	for (x = td->calls; x != NULL; x = next) {
		next = x->next;
		if (x->answer != NULL && x->due_ms <= now && x->due_ms <= x->deadline_ms) {
			struct json_object *execution = x->answer;
			x->answer = NULL;
			exec_answer(td, x, execution);
		} else if (x->deadline_ms <= now) {
			exec_fail(td, x, ERR_PROVIDER_TIMEOUT,
			    "timeout_ms elapsed before the call completed");
		} else if (x->state == EXEC_WAIT_RETRY && x->due_ms <= now) {
			graph_start(td, x);
		}
	}
	jwks_timers(td);
}

static int64_t
tokend_next_deadline(const struct tokend *td)
{
	int64_t next = jwks_next_deadline(td);

	for (const struct exec *x = td->calls; x != NULL; x = x->next) {
		int64_t t = x->deadline_ms;
		if ((x->answer != NULL || x->state == EXEC_WAIT_RETRY) && x->due_ms < t)
			t = x->due_ms;
		if (next < 0 || t < next)
			next = t;
	}
	for (const struct token_entry *e = td->cache.head; e != NULL; e = e->next)
		if (e->minting && e->login_retry_at_ms != 0 &&
		    (next < 0 || e->login_retry_at_ms < next))
			next = e->login_retry_at_ms;
	return next;
}

static void
tokend_loop(struct tokend *td)
{
	const short ready = CURL_WAIT_POLLIN;

	for (;;) {
		struct curl_waitfd fds[2] = {
			{ td->broker.fd, CURL_WAIT_POLLIN | (ipc_pending_out(&td->broker) ? CURL_WAIT_POLLOUT : 0), 0 },
			{ td->secretd.eof ? -1 : td->secretd.fd, CURL_WAIT_POLLIN | (ipc_pending_out(&td->secretd) ? CURL_WAIT_POLLOUT : 0), 0 },
		};
		int timeout = poll_timeout_ms(tokend_next_deadline(td));

		if (curl_multi_poll(td->multi, fds, 2, timeout < 0 ? 60000 : timeout, NULL) != CURLM_OK)
			fatalx("curl_multi_poll failed");
		http_run(td);
		/* curl reports POLLIN for hang-ups and errors too. */
		if ((fds[0].revents & ready) && !tokend_service(td, &td->broker, tokend_dispatch_broker))
			return; /* brokerd closed its end: orderly shutdown */
		if (!td->secretd.eof && (fds[1].revents & ready) &&
		    !tokend_service(td, &td->secretd, tokend_dispatch_secretd))
			tokend_secretd_lost(td);
		tokend_timers(td);
		if (ipc_flush(&td->broker) == -1) {
			if (errno != EPIPE && errno != ECONNRESET)
				fatal("write to brokerd");
			tokend_broker_gone(td);
			return;
		}
		if (!td->secretd.eof && ipc_flush(&td->secretd) == -1)
			log_warn("write to secretd");
	}
}

int
main(void)
{
	struct tokend td;

	log_init("tokend", LOG_LEVEL_INFO);
	/* Graph bodies of megabytes come and go (curl's buffer, the parsed
	 * body, the answer to brokerd): with glibc's threshold fixed they are
	 * mmapped and given back when freed, instead of staying in the heap
	 * after the first one raises the threshold (issue 9). */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	proc_child_init("tokend");
	/* A write to a brokerd that has gone is EPIPE, handled in the loop,
	 * not a signal that kills tokend before it has read what brokerd sent. */
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		fatalx("sodium_init failed");
	memset(&td, 0, sizeof(td));
	config_load_or_exit(&td.cfg);
	log_set_level(td.cfg.log_level);
	cache_init(&td.cache, td.cfg.token_cache_skew_s, td.cfg.token_max_ttl_s, wall_s);
	ipc_chan_init(&td.broker, IPC_FD_PARENT, "brokerd", from_broker,
	    sizeof(from_broker) / sizeof(from_broker[0]));
	ipc_chan_init(&td.secretd, IPC_FD_PEER, "secretd", from_secretd,
	    sizeof(from_secretd) / sizeof(from_secretd[0]));
	if (proc_set_nonblock(IPC_FD_PARENT) == -1 || proc_set_nonblock(IPC_FD_PEER) == -1)
		fatal("fcntl(O_NONBLOCK)");
	http_init(&td);
	jwks_init(&td);
	/* Read now: after the sandbox no file outside /etc, /usr and /lib can
	 * be.  A file brokerd would refuse leaves tokend with no key, so a
	 * key brokerd passed could never prove anyone. */
	if (AUTH_MODE_KEYS(td.cfg.auth_mode)) {
		char why[256];
		if (api_keys_load(&td.keys, td.cfg.api_keys_file, why, sizeof(why)) == -1)
			log_warnx("API keys %s: %s", td.cfg.api_keys_file, why);
	}
	/* cjose's and OpenSSL's one-time set-up, while files may be read. */
	if (AUTH_MODE_OAUTH(td.cfg.auth_mode))
		bearer_selftest();
	/* Last step of start-up: from here on no file is opened for writing,
	 * no process started, and nothing but the network and the channels. */
	sandbox_enter(SANDBOX_TOKEND);
	tokend_loop(&td);
	while (td.calls != NULL)
		exec_remove(&td, td.calls);
	jwks_cleanup(&td);
	api_keys_free(&td.keys);
	http_cleanup(&td);
	cache_free(&td.cache);
	ipc_chan_free(&td.broker);
	ipc_chan_free(&td.secretd);
	config_free(&td.cfg);
	return 0;
}
