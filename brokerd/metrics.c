/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The counters behind GET /metrics.  brokerd counts what it sees (tool calls
 * and their outcomes, HTTP refusals, sessions); the token cache's counters
 * are tokend's, which it sends unasked (MSG_TOKEN_STATS) as they change:
 * brokerd has no request that could reach tokend's state through them. */
#include "buildconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_request.h"
#include "log.h"
#include "metrics.h"
#include "tools.h"

#define PREFIX  "mcp_auth_broker_"
#define N_TOOLS 2
/* One column per error code, ERR_NONE being "ok", and one for cancelled. */
#define N_OUTCOMES (ERR_CODE_COUNT + 1)

/* Upper bounds of the latency buckets, in milliseconds: a token from the
 * cache and a small Graph answer take tens of ms; a login and a large or
 * paged answer seconds; timeouts reach REQ_TIMEOUT_MAX_MS. */
static const int64_t bucket_ms[] = {5,    10,   25,   50,    100,   250,   500,
                                    1000, 2500, 5000, 10000, 30000, 60000, 120000};
#define N_BUCKETS (sizeof(bucket_ms) / sizeof(bucket_ms[0]))

static const char *const tool_names[N_TOOLS] = {TOOL_EXECUTE, TOOL_DESCRIBE};

static const char *const refusal_names[REFUSAL_COUNT] = {
    [REFUSAL_NOT_FOUND] = "not_found",
    [REFUSAL_HOST] = "host",
    [REFUSAL_ORIGIN] = "origin",
    [REFUSAL_METHOD] = "method",
    [REFUSAL_AUTH] = "auth",
    [REFUSAL_PROTOCOL_VERSION] = "protocol_version",
    [REFUSAL_STOPPING] = "stopping",
    [REFUSAL_BODY_TOO_LARGE] = "body_too_large",
    [REFUSAL_MEDIA_TYPE] = "media_type",
    [REFUSAL_PARSE] = "parse_error",
    [REFUSAL_BATCH] = "batch",
    [REFUSAL_SESSION_REQUIRED] = "session_required",
    [REFUSAL_SESSION_UNKNOWN] = "session_unknown",
    [REFUSAL_SESSIONS_FULL] = "sessions_full",
    [REFUSAL_METRICS_PEER] = "metrics_peer",
};

static struct {
	uint64_t calls[N_TOOLS][N_OUTCOMES];
	uint64_t buckets[N_BUCKETS]; /* not cumulative: each call in its own */
	uint64_t n_calls;
	int64_t sum_ms;
	uint64_t refusals[REFUSAL_COUNT];
	struct msg_token_stats token;
} m;

void
metrics_tool_call(const char *tool, enum err_code outcome, bool cancelled, int64_t duration_ms)
{
	size_t t, b;

	if (tool == NULL)
		return;
	for (t = 0; t < N_TOOLS && strcmp(tool_names[t], tool) != 0; t++)
		;
	if (t == N_TOOLS || (unsigned)outcome >= ERR_CODE_COUNT)
		return;
	m.calls[t][cancelled ? ERR_CODE_COUNT : outcome]++;
	if (duration_ms < 0)
		duration_ms = 0;
	for (b = 0; b < N_BUCKETS && duration_ms > bucket_ms[b]; b++)
		;
	if (b < N_BUCKETS)
		m.buckets[b]++;
	m.n_calls++;
	m.sum_ms += duration_ms;
}

void
metrics_refusal(enum metrics_refusal why)
{
	if (why < REFUSAL_COUNT)
		m.refusals[why]++;
}

void
metrics_token_stats(const struct ipc_msg *msg)
{
	const char *why = NULL;

	if (msg_token_stats_decode(msg, &m.token, &why) == -1)
		fatalx("malformed TOKEN_STATS from tokend: %s", why);
}

/* ---- the text format ---------------------------------------------------- */

static void __attribute__((format(printf, 2, 3))) out(struct buf *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		fatalx("metrics line too long");
	if (buf_append(o, line, (size_t)n) == -1)
		fatalx("out of memory");
}

/* A label value as the format wants it: backslash, double quote and line
 * feed escaped.  The values are ours, but the format is kept whatever they
 * hold. */
static const char *
label(const char *v, char *dst, size_t len)
{
	size_t j = 0;

	for (; *v != '\0' && j + 3 < len; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n')
			dst[j++] = '\\';
		dst[j++] = *v == '\n' ? 'n' : *v;
	}
	dst[j] = '\0';
	return dst;
}

static void
family(struct buf *o, const char *name, const char *type, const char *help)
{
	out(o, "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s %s\n", name, help, name, type);
}

static void
render_calls(struct buf *o)
{
	char l1[64], l2[96];
	uint64_t cum = 0;

	family(o, "tool_calls_total", "counter",
	       "Tool calls answered, by tool and outcome code (ok, cancelled, or the error code).");
	for (size_t t = 0; t < N_TOOLS; t++)
		for (size_t c = 0; c < N_OUTCOMES; c++)
			if (m.calls[t][c] > 0)
				out(o, PREFIX "tool_calls_total{tool=\"%s\",code=\"%s\"} %llu\n",
				    label(tool_names[t], l1, sizeof(l1)),
				    label(c == ERR_CODE_COUNT ? "cancelled"
				          : c == ERR_NONE     ? "ok"
				                              : err_name((enum err_code)c),
				          l2, sizeof(l2)),
				    (unsigned long long)m.calls[t][c]);
	family(o, "tool_call_duration_seconds", "histogram",
	       "Time from a tool call's arrival to its answer.");
	for (size_t b = 0; b < N_BUCKETS; b++) {
		cum += m.buckets[b];
		out(o, PREFIX "tool_call_duration_seconds_bucket{le=\"%lld.%03lld\"} %llu\n",
		    (long long)(bucket_ms[b] / 1000), (long long)(bucket_ms[b] % 1000),
		    (unsigned long long)cum);
	}
	out(o, PREFIX "tool_call_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
	    (unsigned long long)m.n_calls);
	out(o, PREFIX "tool_call_duration_seconds_sum %lld.%03lld\n", (long long)(m.sum_ms / 1000),
	    (long long)(m.sum_ms % 1000));
	out(o, PREFIX "tool_call_duration_seconds_count %llu\n", (unsigned long long)m.n_calls);
}

static void
render_counter(struct buf *o, const char *name, const char *help, int64_t v)
{
	family(o, name, "counter", help);
	out(o, PREFIX "%s %lld\n", name, (long long)v);
}

static void
render_tokens(struct buf *o)
{
	render_counter(o, "token_cache_hits_total",
	               "Calls tokend served with a token from its cache.", m.token.cache_hits);
	render_counter(o, "token_mints_total",
	               "Logins at the login endpoint that obtained a token (tokend).",
	               m.token.mints);
	render_counter(o, "token_mint_failures_total",
	               "Logins at the login endpoint that failed (tokend).", m.token.mint_failures);
	render_counter(o, "jwks_refreshes_total",
	               "Fetches of the OAuth issuer's key set that succeeded (tokend; AUTH_MODE oauth, hybrid).",
	               m.token.jwks_refreshes);
}

static void
render_sessions(struct buf *o, const struct broker *b)
{
	size_t n[2] = {0, 0};

	for (const struct session *s = b->sessions; s != NULL; s = s->next)
		if (s->transport == SESSION_STDIO || s->transport == SESSION_UNIX)
			n[s->transport == SESSION_UNIX]++;
	family(o, "sessions", "gauge",
	       "MCP sessions open, by transport (http: Mcp-Session-Ids held).");
	out(o, PREFIX "sessions{transport=\"stdio\"} %zu\n", n[0]);
	out(o, PREFIX "sessions{transport=\"unix\"} %zu\n", n[1]);
	out(o, PREFIX "sessions{transport=\"http\"} %zu\n",
	    b->http != NULL ? b->http->n_sessions : 0);
}

static void
render_refusals(struct buf *o)
{
	char l[64];

	family(o, "http_refusals_total", "counter",
	       "HTTP requests refused before or instead of MCP, by reason.");
	for (size_t r = 0; r < REFUSAL_COUNT; r++)
		out(o, PREFIX "http_refusals_total{reason=\"%s\"} %llu\n",
		    label(refusal_names[r], l, sizeof(l)), (unsigned long long)m.refusals[r]);
}

char *
metrics_render(const struct broker *b, size_t *len)
{
	struct buf o;
	char *text;

	buf_init(&o);
	render_calls(&o);
	render_tokens(&o);
	render_sessions(&o, b);
	render_refusals(&o);
	*len = buf_avail(&o);
	if ((text = malloc(*len + 1)) == NULL)
		fatalx("out of memory");
	memcpy(text, buf_head(&o), *len);
	text[*len] = '\0';
	buf_free(&o);
	return text;
}
