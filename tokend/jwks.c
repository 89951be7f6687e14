/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The OAuth callers' key set (AUTH_MODE oauth, hybrid): tokend, the only
 * process on the network, fetches the issuer's JWKS, keeps its own parsed
 * copy (to check each caller's token again, bearer.h) and hands the public
 * keys to brokerd.  Fetched at start, every JWKS_REFRESH_SECONDS, and when
 * brokerd meets an unknown kid: at once the first time, then at most once
 * every JWKS_REFRESH_MIN_SECONDS, so that a caller sending tokens with
 * made-up kids cannot make tokend hammer the issuer, while a key the
 * issuer has just started signing with is picked up by the first token
 * that uses it. */
#include <stdio.h>
#include <string.h>

#include "bearer.h"
#include "log.h"
#include "timeutil.h"
#include "tokend.h"

#define JWKS_REFRESH_SECONDS	 3600
#define JWKS_REFRESH_MIN_SECONDS 30
#define JWKS_TIMEOUT_MS		 10000

/* Logged, told to brokerd (its --ready reports it), and tried again soon. */
static void
jwks_failed(struct tokend *td, const char *why)
{
	log_warnx("OAuth key set %s: %s", td->cfg.oauth_jwks_uri, why);
	msg_jwks_fail_send(&td->broker, why);
	td->jwks_due_ms = mono_ms() + JWKS_REFRESH_MIN_SECONDS * 1000;
}

static void
jwks_done(struct tokend *td, struct xfer *x, CURLcode rc)
{
	struct jwks fresh;
	const char *why = NULL;
	char status[64];
	int64_t now = mono_ms();

	td->jwks_xfer = NULL;
	td->jwks_due_ms = now + JWKS_REFRESH_SECONDS * 1000;
	if (rc != CURLE_OK || x->status != 200 || x->too_big) {
		if (rc != CURLE_OK)
			why = curl_easy_strerror(rc);
		else if (x->too_big)
			why = "larger than 256 KiB";
		else
			snprintf(status, sizeof(status), "the issuer answered HTTP %ld", x->status);
		jwks_failed(td, why != NULL ? why : status);
		return;
	}
	if (jwks_parse(&fresh, (const char *)x->body.data, x->body.len, &why) == -1) {
		jwks_failed(td, why);
		return;
	}
	td->stats.jwks_refreshes++;
	stats_changed(td);
	if (td->jwks.text != NULL && strcmp(td->jwks.text, fresh.text) == 0) {
		jwks_free(&fresh);
		return;
	}
	/* The set before stays usable for tokens brokerd checked against it
	 * a moment ago: an issuer drops a key only after it stops signing. */
	jwks_free(&td->jwks_prev);
	td->jwks_prev = td->jwks;
	td->jwks = fresh;
	log_info("OAuth key set: %zu signing key(s) from %s", td->jwks.n, td->cfg.oauth_jwks_uri);
	msg_jwks_send(&td->broker, &td->jwks);
}

static void
jwks_fetch(struct tokend *td)
{
	struct xfer *x = xfer_new(td, td->cfg.oauth_jwks_uri, JWKS_TIMEOUT_MS, JWKS_MAX_BYTES,
	    jwks_done, NULL);

	xfer_header(x, "Accept: application/json");
	td->jwks_xfer = x;
	if (td->jwks_demanded)
		td->jwks_last_demand_ms = mono_ms();
	td->jwks_demanded = false;
	td->jwks_due_ms = -1;
	xfer_start(td, x);
}

void
jwks_init(struct tokend *td)
{
	td->jwks_due_ms = AUTH_MODE_OAUTH(td->cfg.auth_mode) ? 0 : -1;
	td->jwks_last_demand_ms = -1;
}

/* brokerd met a kid it does not know: soon, but not sooner than allowed. */
void
jwks_refresh_req(struct tokend *td)
{
	int64_t earliest;

	if (!AUTH_MODE_OAUTH(td->cfg.auth_mode))
		fatalx("broken invariant: JWKS_REQ from brokerd, and callers are not OAuth's");
	if (td->jwks_xfer != NULL)
		return;
	earliest = td->jwks_last_demand_ms < 0
	    ? 0
	    : td->jwks_last_demand_ms + JWKS_REFRESH_MIN_SECONDS * 1000;
	if (td->jwks_due_ms < 0 || td->jwks_due_ms > earliest) {
		td->jwks_due_ms = earliest;
		td->jwks_demanded = true;
	}
}

void
jwks_timers(struct tokend *td)
{
	if (td->jwks_xfer == NULL && td->jwks_due_ms >= 0 && td->jwks_due_ms <= mono_ms())
		jwks_fetch(td);
}

int64_t
jwks_next_deadline(const struct tokend *td)
{
	return td->jwks_xfer == NULL ? td->jwks_due_ms : -1;
}

void
jwks_cleanup(struct tokend *td)
{
	if (td->jwks_xfer != NULL)
		xfer_abort(td, td->jwks_xfer);
	jwks_free(&td->jwks);
	jwks_free(&td->jwks_prev);
}

/* The monitor's check of who is calling: the credential brokerd passed
 * must prove the requester brokerd named, by tokend's own key file or key
 * set and rules (the code brokerd used).  A caller who is not who brokerd
 * says, or a credential that does not verify, is a forgery; a token that
 * expired between brokerd's check and ours is not. */
int
jwks_verify_caller(const struct tokend *td, const struct msg_caller *who,
    const char *requester_id, struct req_caller *out, bool *fatal, const char **why)
{
	struct bearer_rules rules;
	struct bearer_identity id;
	enum bearer_result rc;
	const struct api_key *key;

	memset(out, 0, sizeof(*out));
	*fatal = true;
	if (strcmp(who->method, "api_key") == 0) {
		if (!AUTH_MODE_KEYS(td->cfg.auth_mode) ||
		    (key = api_keys_match(&td->keys, who->credential)) == NULL)
			return *why = "an API key that is not in the key file", -1;
		if (requester_id == NULL || strcmp(key->name, requester_id) != 0)
			return *why = "an API key of another caller than the requester", -1;
		snprintf(out->roles, sizeof(out->roles), "%s", key->roles);
		return 0;
	}
	if (!AUTH_MODE_OAUTH(td->cfg.auth_mode))
		return *why = "an OAuth token, and callers are not OAuth's", -1;
	bearer_rules_init(&rules, &td->cfg);
	rc = bearer_verify(&td->jwks, &rules, who->credential, strlen(who->credential), wall_s(),
	    &id, why);
	if (rc == BEARER_UNKNOWN_KEY && td->jwks_prev.n > 0)
		rc = bearer_verify(&td->jwks_prev, &rules, who->credential,
		    strlen(who->credential), wall_s(), &id, why);
	/* brokerd's keys are the ones tokend sent it, kept here until the set
	 * after next: a key neither set has is one brokerd never had. */
	if (rc == BEARER_EXPIRED) {
		*fatal = false;
		return -1;
	}
	if (rc != BEARER_OK)
		return -1;
	if (requester_id == NULL || strcmp(id.subject, requester_id) != 0)
		return *why = "an OAuth token of another caller than the requester", -1;
	snprintf(out->roles, sizeof(out->roles), "%s", id.roles);
	return 0;
}
