/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* brokerd --ready: can this configuration obtain a token, and is the app
 * registration no more privileged than the policy needs?
 *
 * One token-only request per allowed resource: secretd resolves the secret,
 * tokend asks the login endpoint; nothing reaches Graph, and brokerd sees
 * the token's metadata (source, type, expiry and the roles claim tokend
 * read from it), never the token. */
#include "buildconf.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "bearer.h"
#include "brokerd.h"
#include "jsonx.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "report.h"
#include "timeutil.h"

struct ready_result {
	bool done, ok;
	bool has_roles; /* the token is a JWT with a roles claim */
	char roles[MSG_ROLES_MAX];
	char detail[768];
};

/* Results are printed in the configured order once all are in, whatever
 * order the logins finish in. */
struct ready {
	struct broker *b;
	struct report t;
	size_t n, answered;
	struct ready_result *res;
	const char *stopped; /* why the wait ended early, or NULL */
	/* AUTH_MODE oauth or hybrid: tokend's first fetch of the issuer's key
	 * set, which it makes at start (MSG_JWKS or MSG_JWKS_FAIL). */
	bool wants_keys, keys_done, keys_ok;
	size_t n_keys;
	char keys_why[MSG_JWKS_FAIL_MAX];
};

static void
ready_audit(struct ready *r, const char *resource, const char *outcome, const char *source)
{
	struct json_object *rec = json_object_new_object();

	jx_add_str(rec, "resource", resource);
	jx_add_str(rec, "outcome", outcome);
	if (source != NULL)
		jx_add_str(rec, "token_source", source);
	jx_add(rec, "secret_fingerprint", r->b->secret_fingerprint[0]
		? json_object_new_string(r->b->secret_fingerprint) : NULL);
	audit_write("ready_check", rec);
	json_object_put(rec);
}

/* The key set brokerd would verify callers' tokens with, or why tokend
 * could not fetch it.  Only the first counts: a retry comes much later. */
static void
ready_keys(struct ready *r, const struct ipc_msg *m)
{
	const char *why = NULL;
	struct jwks k;

	if (!r->wants_keys)
		fatalx("broken invariant: JWKS from tokend, and callers are not OAuth's");
	if (m->hdr.type == MSG_JWKS) {
		if (msg_jwks_decode(m, &k, &why) == -1)
			fatalx("malformed JWKS from tokend: %s", why);
		if (!r->keys_done) {
			r->keys_ok = true;
			r->n_keys = k.n;
		}
		jwks_free(&k);
	} else {
		char text[MSG_JWKS_FAIL_MAX];
		if (msg_jwks_fail_decode(m, text, sizeof(text), &why) == -1)
			fatalx("malformed JWKS_FAIL from tokend: %s", why);
		if (!r->keys_done)
			snprintf(r->keys_why, sizeof(r->keys_why), "%s", text);
	}
	r->keys_done = true;
}

static void
ready_answer(struct ready *r, const struct ipc_msg *m)
{
	const char *resource, *outcome, *source = NULL, *why = NULL;
	struct ready_result *res;
	struct msg_exec_ans a;

	if (m->hdr.type == MSG_TOKEN_STATS) { /* checked like any message, then unused */
		metrics_token_stats(m);
		return;
	}
	if (m->hdr.type == MSG_JWKS || m->hdr.type == MSG_JWKS_FAIL) {
		ready_keys(r, m);
		return;
	}
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
		res->has_roles = a.token.has_roles;
		snprintf(res->roles, sizeof(res->roles), "%s", a.token.roles);
	} else {
		outcome = err_name(a.code);
		snprintf(res->detail, sizeof(res->detail), "%s: %s: %s", resource, outcome,
		    a.message);
	}
	ready_audit(r, resource, outcome, source);
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

/* Until every resource is answered, tokend or secretd dies, a signal comes
 * or the deadline passes. */
static void
ready_wait(struct ready *r, int64_t deadline)
{
	struct broker *b = r->b;

	while ((r->answered < r->n || (r->wants_keys && !r->keys_done)) && r->stopped == NULL) {
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
			r->stopped = r->answered < r->n ? "no answer from tokend in time"
							: "no key set from tokend in time";
			break;
		}
		if (poll(p, 3, poll_timeout_ms(deadline)) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		/* secretd first: the fingerprint it sends precedes the token. */
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
			ready_read(r, &b->secretd);
		if (p[2].revents & (POLLIN | POLLHUP | POLLERR))
			ready_read(r, &b->tokend);
		if (p[0].revents & POLLIN)
			ready_signal(r);
	}
}

/* ---- least privilege: the token's roles against the policy ------------- */

/* Appends name to a ", "-separated list in out. */
static void
list_add(char *out, size_t outsz, const char *name, size_t len)
{
	size_t used = strlen(out);

	snprintf(out + used, outsz - used, "%s%.*s", used ? ", " : "", (int)len, name);
}

/* A .default token carries every application permission consented to the
 * app, whatever ALLOWED_SCOPES says: roles no allowed call can use are
 * privilege an attacker with the token would have and the broker never
 * needs.  A role is usable when it is in MCP_AUTH_BROKER_ALLOWED_SCOPES. */
static void
ready_roles(struct ready *r, const char *resource, const struct ready_result *res)
{
	const struct config *cfg = &r->b->cfg;
	char unused[2048] = "", missing[2048] = "";

	if (!res->has_roles) {
		report_add(&r->t, VERDICT_WARN, "roles",
		    "grant the app the application permissions in MCP_AUTH_BROKER_ALLOWED_SCOPES "
		    "and admin consent; delegated permissions do not apply",
		    "%s: the token carries no roles claim: least privilege not checked, and "
		    "Graph refuses calls that need an application permission", resource);
		return;
	}
	for (const char *p = res->roles; *p != '\0';) {
		size_t n = strcspn(p, " ");
		char name[MSG_ROLE_NAME_MAX + 1];
		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		if (!config_scope_allowed(cfg, name))
			list_add(unused, sizeof(unused), p, n);
		p += n;
		p += strspn(p, " ");
	}
	for (size_t i = 0; i < cfg->scopes.n; i++)
		if (!words_contain(res->roles, cfg->scopes.v[i], true))
			list_add(missing, sizeof(missing), cfg->scopes.v[i], strlen(cfg->scopes.v[i]));
	if (unused[0] != '\0')
		report_add(&r->t, VERDICT_WARN, "roles",
		    "remove them from the app registration (API permissions) and revoke their "
		    "consent, or add to MCP_AUTH_BROKER_ALLOWED_SCOPES the ones calls need",
		    "%s: the app holds roles no allowed call can use: %s", resource, unused);
	if (missing[0] != '\0')
		report_add(&r->t, VERDICT_WARN, "scopes",
		    "grant the app these application permissions and admin consent, or remove "
		    "them from MCP_AUTH_BROKER_ALLOWED_SCOPES",
		    "%s: MCP_AUTH_BROKER_ALLOWED_SCOPES allows %s, which the app lacks: calls "
		    "will get 403", resource, missing);
	if (unused[0] == '\0' && missing[0] == '\0')
		report_add(&r->t, VERDICT_OK, "roles", NULL,
		    "%s: the token's roles are exactly MCP_AUTH_BROKER_ALLOWED_SCOPES", resource);
}

/* The certificate credential's public facts, as secretd loaded them: the
 * thumbprints the app registration must show; a warning 30 days ahead. */
static void
ready_certificate(struct report *t, const struct broker *b)
{
	char line[768];

	if (secrets_cert_line(&b->cert, (int64_t)time(NULL), line, sizeof(line)))
		report_add(t, VERDICT_WARN, "certificate", "renew it and upload the new one to the "
		    "app registration", "%s", line);
	else if (line[0] != '\0')
		report_add(t, VERDICT_OK, "certificate", NULL, "%s", line);
}

/* OAuth callers: the issuer's key set, which every caller's token is
 * checked against; without it every OAuth caller is refused. */
static void
ready_oauth_keys(struct ready *r, long waited_s)
{
	const char *uri = r->b->cfg.oauth_jwks_uri;

	if (!r->wants_keys)
		return;
	if (r->keys_ok)
		report_add(&r->t, VERDICT_OK, "OAuth keys", NULL, "%zu signing key%s from %s",
		    r->n_keys, r->n_keys == 1 ? "" : "s", uri);
	else if (r->keys_done)
		report_add(&r->t, VERDICT_FAIL, "OAuth keys",
		    "check MCP_AUTH_BROKER_OAUTH_JWKS_URI and that tokend can reach it (CA, proxy)",
		    "%s: %s", uri, r->keys_why);
	else
		report_add(&r->t, VERDICT_FAIL, "OAuth keys", "see tokend's log",
		    "%s: not fetched within %ld s", uri, waited_s);
}

static void
ready_report(struct ready *r)
{
	const struct config *cfg = &r->b->cfg;
	bool smoke = cfg->env == BROKER_ENV_SMOKE;

	for (size_t i = 0; i < r->n; i++) {
		const struct ready_result *res = &r->res[i];
		if (!res->done) {
			report_add(&r->t, VERDICT_FAIL, "token", NULL, "%s: %s",
			    cfg->resources.v[i], r->stopped);
			continue;
		}
		report_add(&r->t, res->ok ? VERDICT_OK : VERDICT_FAIL, "token", NULL, "%s",
		    res->detail);
		/* Smoke tokens are not JWTs: there are no roles to judge. */
		if (res->ok && !smoke)
			ready_roles(r, cfg->resources.v[i], res);
	}
	if (r->b->secret_fingerprint[0] != '\0')
		report_add(&r->t, VERDICT_OK, "secret", NULL, "fingerprint %s (provider %s)",
		    r->b->secret_fingerprint, r->b->secret_provider);
	ready_certificate(&r->t, r->b);
	if (!smoke && cfg->graph_credential == GRAPH_CREDENTIAL_MANAGED_IDENTITY)
		report_add(&r->t, VERDICT_OK, "credential", NULL, "managed identity (%s%s) via %s",
		    cfg->mi_client_id ? "user-assigned, client id " : "system-assigned",
		    cfg->mi_client_id ? cfg->mi_client_id : "", cfg->mi_endpoint);
	secrets_federated_report(&r->t, cfg, &r->b->federated);
	if (smoke)
		report_add(&r->t, VERDICT_WARN, "credentials",
		    "set MCP_AUTH_BROKER_ENV to dev, staging or prod with a secret provider to "
		    "prove the app's credentials",
		    "smoke mode: the built-in secret and token were used; no credential was proved");
}

void
selfcheck_ready(struct broker *b, bool json, const char *http)
{
	const struct config *cfg = &b->cfg;
	/* A login may resolve the secret and ask the endpoint twice (the retry
	 * with a fresh secret after invalid_client), and back off once. */
	int64_t budget_ms = 2 * (cfg->secret_timeout_s + cfg->token_provider_timeout_s) * 1000 + 1000;
	int64_t deadline = mono_ms() + budget_ms + CALL_BACKSTOP_MS;
	struct ready r = { .b = b, .n = cfg->resources.n };
	int64_t started = mono_ms();

	report_init(&r.t, "ready", json);
	if ((r.res = calloc(r.n, sizeof(*r.res))) == NULL)
		fatalx("out of memory");
	if (budget_ms > REQ_TIMEOUT_MAX_MS)
		budget_ms = REQ_TIMEOUT_MAX_MS;
	for (size_t i = 0; i < r.n; i++)
		msg_exec_req_send_token_only(&b->tokend.chan, i + 1, cfg->tenant_id,
		    cfg->resources.v[i], (long)budget_ms);
	r.wants_keys = AUTH_MODE_OAUTH(cfg->auth_mode);
	ready_wait(&r, deadline);
	ready_report(&r);
	ready_oauth_keys(&r, (long)((mono_ms() - started + 999) / 1000));
	selfcheck_http(&r.t, cfg, http);
	free(r.res);
	children_stop(b);
	report_end(&r.t);
}
