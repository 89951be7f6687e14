/* tokend: serves brokerd's Graph calls.  One event loop — curl's multi
 * handle plus the brokerd and secretd channels plus the timers of calls in
 * flight — so a call waiting on a login or on Graph never holds up another. */
#include "buildconf.h"

#include <errno.h>
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

static const uint32_t from_broker[] = { MSG_EXEC_REQ, MSG_DESCRIBE_REQ, MSG_CANCEL_REQ };
static const uint32_t from_secretd[] = { MSG_SECRET_ANS, MSG_SECRET_ERR };

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
	json_object_put(x->req);
	json_object_put(x->answer);
	free(x);
}

static void
tokend_send(struct tokend *td, uint32_t type, uint64_t id, struct json_object *o)
{
	if (ipc_send_json(&td->broker, type, id, o) == -1)
		fatalx("cannot queue answer to brokerd");
}

void
exec_answer(struct tokend *td, struct exec *x, struct json_object *ans)
{
	tokend_send(td, MSG_EXEC_ANS, x->id, ans);
	json_object_put(ans);
	exec_remove(td, x);
}

void
exec_fail(struct tokend *td, struct exec *x, enum err_code code, const char *msg)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();

	jx_add_str(e, "code", err_name(code));
	jx_add_str(e, "message", msg ? msg : "");
	jx_add_bool(o, "ok", false);
	jx_add(o, "error", e);
	exec_answer(td, x, o);
}

struct json_object *
token_meta(const struct token_entry *e, const char *source)
{
	struct json_object *t = json_object_new_object();
	char when[32];

	iso8601_utc(e->expires_at, when, sizeof(when));
	jx_add_str(t, "source", source);
	jx_add_str(t, "token_type", e->token_type);
	jx_add_str(t, "expires_at", when);
	return t;
}

/* The token is usable: make the Graph call.  brokerd --ready wants only to
 * know a token can be had, and gets its metadata (never the token). */
static void
exec_proceed(struct tokend *td, struct exec *x)
{
	struct json_object *o;

	if (!x->token_only) {
		graph_start(td, x);
		return;
	}
	o = json_object_new_object();
	jx_add_bool(o, "ok", true);
	jx_add(o, "token", token_meta(x->entry, x->source));
	exec_answer(td, x, o);
}

/* ---- logins (single flight per cache key) ------------------------------ */

static void
mint_ask_secret(struct tokend *td, struct token_entry *e, bool fresh)
{
	static const char refresh[] = "{\"refresh\":true}";

	e->mint_id = ++td->next_mint_id;
	e->awaiting_secret = true;
	if (ipc_send(&td->secretd, MSG_SECRET_REQ, e->mint_id, fresh ? refresh : NULL,
		fresh ? sizeof(refresh) - 1 : 0) == -1)
		fatalx("cannot queue request to secretd");
}

static void
mint_begin(struct tokend *td, struct token_entry *e)
{
	e->minting = true;
	e->fresh_secret = false;
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
	if (code == ERR_NONE) {
		cache_note_success(e);
	} else {
		cache_note_failure(&td->cache, e, code, msg, failure_sig, retry_after_s);
		log_warnx("login for %s failed: %s: %s", e->resource, err_name(code), msg);
	}
	for (x = td->calls; x != NULL; x = next) {
		next = x->next;
		if (x->entry != e || x->state != EXEC_WAIT_TOKEN)
			continue;
		if (code == ERR_NONE || cache_usable(&td->cache, e)) {
			x->source = code == ERR_NONE ? "minted" : "cache_fallback";
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
		x->source = e->refresh_failed ? "cache_fallback" : "cache";
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

static void
tokend_exec_req(struct tokend *td, uint64_t id, struct json_object *req)
{
	struct exec *x = calloc(1, sizeof(*x));
	struct json_object *token_only = jx_get(req, "token_only");
	int64_t timeout_ms = 0;

	if (x == NULL)
		fatalx("out of memory");
	/* A peer's malformed message is fatal (DESIGN.md section 2). */
	if (token_only != NULL && !json_object_is_type(token_only, json_type_boolean))
		fatalx("malformed EXEC_REQ %" PRIu64 " from brokerd: token_only", id);
	x->token_only = token_only != NULL && json_object_get_boolean(token_only);
	if (jx_get_str(req, "resource") == NULL || !jx_get_int64(req, "timeout_ms", &timeout_ms) ||
	    (!x->token_only && (jx_get_str(req, "method") == NULL || jx_get_str(req, "path") == NULL)))
		fatalx("malformed EXEC_REQ %" PRIu64 " from brokerd", id);
	x->id = id;
	x->req = req;
	x->deadline_ms = mono_ms() + timeout_ms;
	x->entry = cache_entry(&td->cache, td->cfg.tenant_id, td->cfg.client_id,
	    jx_get_str(req, "resource"));
	exec_append(td, x);
	exec_serve(td, x);
}

static void
tokend_describe_req(struct tokend *td, uint64_t id, struct json_object *req)
{
	static const char *states[] = { "empty", "valid", "expired" };
	const char *resource = jx_get_str(req, "resource");
	struct json_object *o = json_object_new_object(), *c = json_object_new_object();
	struct token_entry *e;
	enum cache_state st;
	char when[32];

	if (resource == NULL)
		fatalx("malformed DESCRIBE_REQ %" PRIu64 " from brokerd", id);
	e = cache_find(&td->cache, td->cfg.tenant_id, td->cfg.client_id, resource);
	st = cache_state(&td->cache, e);
	jx_add_str(c, "state", states[st]);
	if (st != CACHE_EMPTY) {
		iso8601_utc(e->expires_at, when, sizeof(when));
		jx_add_str(c, "token_type", e->token_type);
		jx_add_str(c, "expires_at", when);
		jx_add_int(c, "expires_in_s", e->expires_at - td->cache.now());
	}
	jx_add_bool(c, "refreshing", e != NULL && e->minting);
	jx_add_bool(c, "throttled", e != NULL && cache_throttled(&td->cache, e));
	jx_add(o, "cache", c);
	tokend_send(td, MSG_DESCRIBE_ANS, id, o);
	json_object_put(o);
	json_object_put(req);
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
	struct json_object *o = json_object_new_object();

	jx_add_str(o, "message", message);
	jx_add_int(o, "retry_in_ms", retry_in_ms);
	tokend_send(td, MSG_PROGRESS, x->id, o);
	json_object_put(o);
}

static void
tokend_dispatch_broker(struct tokend *td, const struct ipc_msg *m)
{
	struct json_object *req;

	if (m->hdr.type == MSG_CANCEL_REQ) {
		if (m->hdr.len != 0)
			fatalx("CANCEL_REQ %" PRIu64 " from brokerd with a payload", m->hdr.id);
		tokend_cancel_req(td, m->hdr.id);
		return;
	}
	if ((req = ipc_msg_json(m)) == NULL)
		fatalx("%s from brokerd is not a JSON object", ipc_type_name(m->hdr.type));
	if (m->hdr.type == MSG_EXEC_REQ)
		tokend_exec_req(td, m->hdr.id, req);
	else
		tokend_describe_req(td, m->hdr.id, req);
}

static void
tokend_dispatch_secretd(struct tokend *td, const struct ipc_msg *m)
{
	struct token_entry *e = cache_find_minting(&td->cache, m->hdr.id);
	struct json_object *o;
	enum err_code code;

	if (e == NULL || !e->awaiting_secret)
		fatalx("answer from secretd for unknown request %" PRIu64, m->hdr.id);
	e->awaiting_secret = false;
	if (m->hdr.type == MSG_SECRET_ANS) {
		mint_with_secret(td, e, m->data, m->hdr.len);
		return;
	}
	o = ipc_msg_json(m);
	code = err_from_name(o && jx_get_str(o, "code") ? jx_get_str(o, "code") : "");
	if (code == ERR_NONE)
		fatalx("malformed SECRET_ERR from secretd");
	mint_done(td, e, code, jx_get_str(o, "message"), -1, NULL);
	json_object_put(o);
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

/* secretd gone: no login waiting for a secret will get one. */
static void
tokend_secretd_lost(struct tokend *td)
{
	log_warnx("secretd closed its channel");
	for (struct token_entry *e = td->cache.head; e != NULL; e = e->next)
		if (e->minting && e->awaiting_secret)
			mint_done(td, e, ERR_SECRET_UNAVAILABLE, "secretd is gone", -1, NULL);
}

static void
tokend_timers(struct tokend *td)
{
	int64_t now = mono_ms();
	struct exec *x, *next;

	for (x = td->calls; x != NULL; x = next) {
		next = x->next;
		if (x->answer != NULL && x->due_ms <= now && x->due_ms <= x->deadline_ms) {
			struct json_object *ans = x->answer;
			x->answer = NULL;
			exec_answer(td, x, ans);
		} else if (x->deadline_ms <= now) {
			exec_fail(td, x, ERR_PROVIDER_TIMEOUT,
			    "timeout_ms elapsed before the call completed");
		} else if (x->state == EXEC_WAIT_RETRY && x->due_ms <= now) {
			graph_start(td, x);
		}
	}
}

static int64_t
tokend_next_deadline(const struct tokend *td)
{
	int64_t next = -1;

	for (const struct exec *x = td->calls; x != NULL; x = x->next) {
		int64_t t = x->deadline_ms;
		if ((x->answer != NULL || x->state == EXEC_WAIT_RETRY) && x->due_ms < t)
			t = x->due_ms;
		if (next < 0 || t < next)
			next = t;
	}
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
		if (ipc_flush(&td->broker) == -1)
			fatal("write to brokerd");
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
	if (sodium_init() < 0)
		fatalx("sodium_init failed");
	memset(&td, 0, sizeof(td));
	config_load_or_exit(&td.cfg);
	log_set_level(td.cfg.log_level);
	cache_init(&td.cache, td.cfg.token_cache_skew_s, td.cfg.token_max_ttl_s, wall_s);
	ipc_chan_init(&td.broker, IPC_FD_PARENT, "brokerd", from_broker,
	    sizeof(from_broker) / sizeof(from_broker[0]));
	ipc_chan_init(&td.secretd, IPC_FD_PEER, "secretd", from_secretd, 2);
	if (proc_set_nonblock(IPC_FD_PARENT) == -1 || proc_set_nonblock(IPC_FD_PEER) == -1)
		fatal("fcntl(O_NONBLOCK)");
	http_init(&td);
	/* Last step of start-up: from here on no file is opened for writing,
	 * no process started, and nothing but the network and the channels. */
	sandbox_enter(SANDBOX_TOKEND);
	tokend_loop(&td);
	while (td.calls != NULL)
		exec_remove(&td, td.calls);
	http_cleanup(&td);
	cache_free(&td.cache);
	ipc_chan_free(&td.broker);
	ipc_chan_free(&td.secretd);
	config_free(&td.cfg);
	return 0;
}
