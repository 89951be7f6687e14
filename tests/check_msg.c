/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The typed IPC codecs (common/msg.c): what each encoder writes, its
 * decoder reads back whole; what a broken or hostile peer could write
 * instead (an unknown member, a wrong type, a value outside its set, parts
 * that do not fit together) each decoder refuses. */
#include "buildconf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "jsonx.h"
#include "msg.h"

/* Messages are queued on a channel nobody reads; m points into it. */
struct captured {
	struct ipc_chan c;
	struct ipc_msg m;
};

static void
cap_open(struct captured *k)
{
	ipc_chan_init(&k->c, -1, "check", NULL, 0);
}

/* The first queued message. */
static const struct ipc_msg *
cap_msg(struct captured *k)
{
	memcpy(&k->m.hdr, buf_head(&k->c.out), sizeof(k->m.hdr));
	k->m.data = buf_head(&k->c.out) + sizeof(k->m.hdr);
	return &k->m;
}

/* A message of type with text as its payload, as a peer could write it. */
static const struct ipc_msg *
forged(struct captured *k, uint32_t type, const char *text)
{
	ck_assert_int_eq(ipc_send(&k->c, type, 9, text, strlen(text)), 0);
	return cap_msg(k);
}

static void
request_fill(struct graph_request *r)
{
	memset(r, 0, sizeof(*r));
	r->request_id = "r-1";
	r->requester_id = "agent";
	r->tenant_id = "t";
	r->resource = "https://Graph.Microsoft.com/";
	strlist_add(&r->scopes, "User.Read.All");
	r->method = "GET";
	r->path = "/v1.0/users";
	r->query = "$top=1";
	r->headers[0] = (struct header_kv){ "accept", "application/json" };
	r->headers[1] = (struct header_kv){ "cookie", "stripped" };
	r->n_headers = 2;
	r->timeout_ms = 5000;
	r->max_pages = 3;
}

START_TEST(exec_req_round_trip_forwards_only_allowed_headers)
{
	struct policy_decision d = { .allow = true, .forward = { true, false } };
	struct graph_request r;
	struct msg_exec_req x;
	struct captured k;
	const char *why = NULL;

	cap_open(&k);
	request_fill(&r);
	msg_exec_req_send(&k.c, 1, &r, &d, NULL);
	ck_assert_int_eq(msg_exec_req_decode(cap_msg(&k), &x, &why), 0);
	ck_assert(!x.token_only);
	ck_assert_str_eq(x.req.resource, "https://graph.microsoft.com");
	ck_assert_str_eq(x.req.path, "/v1.0/users");
	ck_assert_str_eq(x.req.query, "$top=1");
	ck_assert_uint_eq(x.req.n_headers, 1);
	ck_assert_str_eq(x.req.headers[0].name, "accept");
	ck_assert_int_eq(x.req.timeout_ms, 5000);
	ck_assert_int_eq(x.req.max_pages, 3);
	msg_exec_req_free(&x);
	strlist_free(&r.scopes);
	ipc_chan_free(&k.c);
}
END_TEST

START_TEST(jwks_fail_round_trip_and_refusals)
{
	struct captured k;
	const char *why = NULL;
	char out[MSG_JWKS_FAIL_MAX], longer[2 * MSG_JWKS_FAIL_MAX];

	cap_open(&k);
	msg_jwks_fail_send(&k.c, "the issuer answered HTTP 500");
	ck_assert_int_eq(msg_jwks_fail_decode(cap_msg(&k), out, sizeof(out), &why), 0);
	ck_assert_str_eq(out, "the issuer answered HTTP 500");
	ipc_chan_free(&k.c);
	/* A long reason is cut to fit, not refused by the receiver. */
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	cap_open(&k);
	msg_jwks_fail_send(&k.c, longer);
	ck_assert_int_eq(msg_jwks_fail_decode(cap_msg(&k), out, sizeof(out), &why), 0);
	ck_assert_uint_eq(strlen(out), MSG_JWKS_FAIL_MAX - 1);
	ipc_chan_free(&k.c);
	cap_open(&k); /* forged() uses id 9: never an answer */
	ck_assert_int_eq(msg_jwks_fail_decode(forged(&k, MSG_JWKS_FAIL, "{\"error\":\"x\"}"), out,
			     sizeof(out), &why),
	    -1);
	ipc_chan_free(&k.c);
	cap_open(&k);
	ck_assert_int_eq(ipc_send(&k.c, MSG_JWKS_FAIL, 0, "{\"error\":\"x\",\"key\":\"k\"}",
			     strlen("{\"error\":\"x\",\"key\":\"k\"}")),
	    0);
	ck_assert_int_eq(msg_jwks_fail_decode(cap_msg(&k), out, sizeof(out), &why), -1);
	ipc_chan_free(&k.c);
}
END_TEST

START_TEST(exec_req_token_only_round_trip)
{
	struct msg_exec_req x;
	struct captured k;
	const char *why = NULL;

	cap_open(&k);
	msg_exec_req_send_token_only(&k.c, 1, "t", "https://graph.microsoft.com", 9000);
	ck_assert_int_eq(msg_exec_req_decode(cap_msg(&k), &x, &why), 0);
	ck_assert(x.token_only);
	ck_assert_ptr_null(x.req.path);
	ck_assert_int_eq(x.req.timeout_ms, 9000);
	msg_exec_req_free(&x);
	ipc_chan_free(&k.c);
}
END_TEST

#define REQ_HEAD                                                                           \
	"\"token_only\":false,\"request_id\":\"r\",\"requester_id\":\"a\",\"tenant_id\":\"t\"," \
	"\"resource\":\"https://graph.microsoft.com\",\"scopes\":[\"s\"],\"timeout_ms\":5000,"
static const char *const bad_exec_reqs[] = {
	"[1]",
	("{" REQ_HEAD "\"method\":\"GET\",\"path\":\"/v1.0/x\",\"headers\":{},\"max_pages\":1,\"x\":1}"),
	("{" REQ_HEAD "\"method\":\"GET\",\"path\":\"/v1.0/x\",\"headers\":{}}"),
	("{" REQ_HEAD "\"method\":\"POST\",\"path\":\"/v1.0/x\",\"headers\":{},\"max_pages\":2}"),
	("{" REQ_HEAD "\"method\":\"GET\",\"path\":\"/v1.0/x\",\"headers\":{\"a\":1},\"max_pages\":1}"),
	("{" REQ_HEAD "\"method\":\"GET\",\"path\":\"/v1.0/x\\u0000y\",\"headers\":{},\"max_pages\":1}"),
	("{" REQ_HEAD "\"path\":\"/v1.0/x\",\"headers\":{},\"max_pages\":1}"),
	("{\"token_only\":true,\"tenant_id\":\"t\",\"resource\":\"r\",\"timeout_ms\":5000,"
	 "\"path\":\"/v1.0/x\"}"),
	"{\"token_only\":true,\"tenant_id\":\"t\",\"resource\":\"r\",\"timeout_ms\":99}",
};

START_TEST(exec_req_refused)
{
	struct msg_exec_req x;
	struct captured k;
	const char *why = NULL;

	cap_open(&k);
	ck_assert_int_eq(msg_exec_req_decode(forged(&k, MSG_EXEC_REQ, bad_exec_reqs[_i]), &x, &why),
	    -1);
	ck_assert_ptr_nonnull(why);
	ipc_chan_free(&k.c);
}
END_TEST

START_TEST(exec_ans_round_trips_each_body_format)
{
	static const struct {
		enum msg_body_format f;
		const char *ctype, *body;
	} cases[] = {
		{ BODY_JSON, "application/json", "{\"value\":[]}" },
		{ BODY_TEXT, "text/csv", "\"a,b\"" },
		{ BODY_IMAGE, "image/png", "\"iVBORw0KGgo=\"" },
		{ BODY_BINARY, "application/zip", "\"UEsDBA==\"" },
		{ BODY_EMPTY, NULL, NULL },
	};
	struct msg_token_meta t = { .source = TOKEN_SOURCE_CACHE, .token_type = "Bearer",
		.expires_at = "2026-11-30T00:00:00Z" };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct msg_graph_meta g = { 200, "rid", NULL, NULL, cases[i].ctype, NULL };
		struct json_object *ex = msg_execution_new(&g, cases[i].f,
		    cases[i].body ? jx_literal(cases[i].body) : NULL);
		struct msg_exec_ans a;
		struct captured k;
		const char *why = NULL;

		cap_open(&k);
		msg_exec_ans_send(&k.c, 1, &t, ex);
		ck_assert_msg(msg_exec_ans_decode(cap_msg(&k), &a, &why) == 0, "%zu: %s", i, why);
		ck_assert_int_eq(a.body_format, cases[i].f);
		ck_assert_int_eq(a.http_status, 200);
		ck_assert_int_eq(a.token.source, TOKEN_SOURCE_CACHE);
		msg_exec_ans_free(&a);
		json_object_put(ex);
		ipc_chan_free(&k.c);
	}
}
END_TEST

#define EX_HEAD "{\"ok\":true,\"token\":{\"source\":\"cache\",\"token_type\":\"Bearer\"," \
	"\"expires_at\":\"x\"},\"execution\":{\"http_status\":200,\"provider_request_id\":\"r\","
static const char *const bad_exec_answers[] = {
	/* a status outside HTTP's range */
	("{\"ok\":true,\"token\":{\"source\":\"cache\",\"token_type\":\"B\",\"expires_at\":\"x\"},"
	"\"execution\":{\"http_status\":999,\"provider_request_id\":\"r\",\"headers\":{},"
	"\"body_format\":\"json\",\"body\":null}}"),
	/* a header brokerd does not pass on */
	(EX_HEAD "\"headers\":{\"set-cookie\":\"x\"},\"body_format\":\"json\",\"body\":null}}"),
	/* text that is not a string; binary without its type; binary with a body */
	(EX_HEAD "\"headers\":{},\"body_format\":\"text\",\"body\":{}}}"),
	(EX_HEAD "\"headers\":{},\"body_format\":\"binary\",\"body\":null,\"body_base64\":\"AA==\"}}"),
	(EX_HEAD "\"headers\":{\"content-type\":\"a/b\"},\"body_format\":\"image\",\"body\":1,"
	"\"body_base64\":\"AA==\"}}"),
	/* a batch without responses; one with a nested batch */
	(EX_HEAD "\"headers\":{},\"body_format\":\"batch\",\"body\":null}}"),
	(EX_HEAD "\"headers\":{},\"body_format\":\"batch\",\"body\":null,\"responses\":[{\"id\":\"1\","
	"\"status\":200,\"headers\":{},\"body_format\":\"batch\",\"body\":null}]}}"),
	/* a token source outside its set; an error code nobody defined */
	"{\"ok\":true,\"token\":{\"source\":\"stolen\",\"token_type\":\"B\",\"expires_at\":\"x\"}}",
	"{\"ok\":false,\"error\":{\"code\":\"provider.pwned\",\"message\":\"\"}}",
	/* paging with a negative count */
	(EX_HEAD "\"headers\":{},\"body_format\":\"json\",\"body\":null,\"paging\":{\"pages\":-1,"
	"\"items\":0,\"truncated\":false}}}"),

};

START_TEST(exec_ans_refused)
{
	struct msg_exec_ans a;
	struct captured k;
	const char *why = NULL;

	cap_open(&k);
	ck_assert_int_eq(msg_exec_ans_decode(forged(&k, MSG_EXEC_ANS, bad_exec_answers[_i]), &a,
			     &why),
	    -1);
	ipc_chan_free(&k.c);
}
END_TEST

START_TEST(error_messages_are_cut_at_a_character)
{
	char msg[700];
	struct msg_exec_ans a;
	struct captured k;
	const char *why = NULL;

	/* 'é' is two bytes: the cut at the decoder's bound must not split one. */
	for (size_t i = 0; i + 2 <= sizeof(msg) - 1; i += 2)
		memcpy(msg + i, "\xc3\xa9", 2);
	msg[sizeof(msg) - 1] = '\0';
	cap_open(&k);
	msg_exec_ans_send_error(&k.c, 1, ERR_PROVIDER_AUTH_FAILED, msg);
	ck_assert_int_eq(msg_exec_ans_decode(cap_msg(&k), &a, &why), 0);
	ck_assert_int_eq(a.code, ERR_PROVIDER_AUTH_FAILED);
	ck_assert_uint_lt(strlen(a.message), sizeof(a.message));
	ipc_chan_free(&k.c);
}
END_TEST

START_TEST(small_messages_round_trip)
{
	struct msg_describe_ans da = { CACHE_STATE_VALID, "Bearer", "x", 60, true, false }, db;
	struct msg_progress p;
	struct msg_secret_info si;
	struct msg_error e;
	struct captured k;
	const char *why = NULL;
	char resource[64];
	bool refresh = false;

	cap_open(&k);
	msg_describe_ans_send(&k.c, 1, &da);
	ck_assert_int_eq(msg_describe_ans_decode(cap_msg(&k), &db, &why), 0);
	ck_assert(db.state == CACHE_STATE_VALID && db.expires_in_s == 60 && db.refreshing);
	ipc_chan_free(&k.c);
	cap_open(&k);
	msg_describe_req_send(&k.c, 1, "https://graph.microsoft.com");
	ck_assert_int_eq(msg_describe_req_decode(cap_msg(&k), resource, sizeof(resource), &why), 0);
	ipc_chan_free(&k.c);
	cap_open(&k);
	msg_progress_send(&k.c, 1, "retrying", 1000);
	ck_assert_int_eq(msg_progress_decode(cap_msg(&k), &p, &why), 0);
	ck_assert_int_eq(p.retry_in_ms, 1000);
	ipc_chan_free(&k.c);
	cap_open(&k);
	msg_secret_req_send(&k.c, 1, true);
	ck_assert_int_eq(msg_secret_req_decode(cap_msg(&k), &refresh, &why), 0);
	ck_assert(refresh);
	ipc_chan_free(&k.c);
	cap_open(&k);
	msg_secret_info_send(&k.c, "0123456789abcdef", "file");
	ck_assert_int_eq(msg_secret_info_decode(cap_msg(&k), &si, &why), 0);
	ipc_chan_free(&k.c);
	cap_open(&k);
	msg_secret_err_send(&k.c, 1, ERR_SECRET_TIMEOUT, "slow");
	ck_assert_int_eq(msg_secret_err_decode(cap_msg(&k), &e, &why), 0);
	ck_assert_int_eq(e.code, ERR_SECRET_TIMEOUT);
	ipc_chan_free(&k.c);
}
END_TEST

START_TEST(small_messages_refused)
{
	struct msg_describe_ans da;
	struct msg_secret_info si;
	struct captured k;
	const char *why = NULL;
	char resource[16];
	bool refresh;

	cap_open(&k);
	/* an empty cache with a token's expiry */
	ck_assert_int_eq(msg_describe_ans_decode(forged(&k, MSG_DESCRIBE_ANS,
			     "{\"cache\":{\"state\":\"empty\",\"refreshing\":false,\"throttled\":false,"
			     "\"expires_at\":\"x\"}}"),
			     &da, &why),
	    -1);
	ipc_chan_free(&k.c);
	cap_open(&k);
	ck_assert_int_eq(msg_describe_req_decode(forged(&k, MSG_DESCRIBE_REQ,
			     "{\"resource\":\"https://graph.microsoft.com\"}"),
			     resource, sizeof(resource), &why),
	    -1); /* longer than the receiver takes */
	ipc_chan_free(&k.c);
	cap_open(&k);
	ck_assert_int_eq(msg_secret_info_decode(forged(&k, MSG_SECRET_INFO,
			     "{\"fingerprint\":\"0123456789ABCDEF\",\"provider\":\"file\"}"),
			     &si, &why),
	    -1);
	ipc_chan_free(&k.c);
	/* Naming anything is a refusal (-2), not a broken invariant (-1). */
	cap_open(&k);
	ck_assert_int_eq(msg_secret_req_decode(forged(&k, MSG_SECRET_REQ, "{\"ref\":\"op://x\"}"),
			     &refresh, &why),
	    -2);
	ipc_chan_free(&k.c);
	cap_open(&k);
	ck_assert_int_eq(msg_secret_req_decode(forged(&k, MSG_SECRET_REQ, "[]"), &refresh, &why), -1);
	ipc_chan_free(&k.c);
	cap_open(&k);
	ck_assert_int_eq(msg_cancel_req_decode(forged(&k, MSG_CANCEL_REQ, "{}"), &why), -1);
	ipc_chan_free(&k.c);
}
END_TEST

/* GET /metrics shows tokend's counters as brokerd last heard them: the
 * decoder takes only counters, only from id 0, never negative. */
START_TEST(token_stats_round_trip_and_refusals)
{
	struct msg_token_stats in = { 3, 1, 2, 0 }, out;
	struct captured k;
	const char *why = NULL;

	cap_open(&k);
	msg_token_stats_send(&k.c, &in);
	ck_assert_int_eq(msg_token_stats_decode(cap_msg(&k), &out, &why), 0);
	ck_assert(out.cache_hits == 3 && out.mints == 1 && out.mint_failures == 2 &&
	    out.jwks_refreshes == 0);
	ipc_chan_free(&k.c);
	cap_open(&k); /* forged() uses id 9: a stats message is never an answer */
	ck_assert_int_eq(msg_token_stats_decode(forged(&k, MSG_TOKEN_STATS,
			     "{\"cache_hits\":1,\"mints\":1,\"mint_failures\":0,\"jwks_refreshes\":0}"),
			     &out, &why),
	    -1);
	ipc_chan_free(&k.c);
	cap_open(&k);
	ck_assert_int_eq(ipc_send(&k.c, MSG_TOKEN_STATS, 0,
			     "{\"cache_hits\":-1,\"mints\":1,\"mint_failures\":0,\"jwks_refreshes\":0}",
			     strlen("{\"cache_hits\":-1,\"mints\":1,\"mint_failures\":0,"
				    "\"jwks_refreshes\":0}")),
	    0);
	ck_assert_int_eq(msg_token_stats_decode(cap_msg(&k), &out, &why), -1);
	ipc_chan_free(&k.c);
	cap_open(&k);
	ck_assert_int_eq(ipc_send(&k.c, MSG_TOKEN_STATS, 0,
			     "{\"cache_hits\":1,\"mints\":1,\"mint_failures\":0,\"jwks_refreshes\":0,"
			     "\"token\":\"x\"}",
			     strlen("{\"cache_hits\":1,\"mints\":1,\"mint_failures\":0,"
				    "\"jwks_refreshes\":0,\"token\":\"x\"}")),
	    0);
	ck_assert_int_eq(msg_token_stats_decode(cap_msg(&k), &out, &why), -1);
	ipc_chan_free(&k.c);
}
END_TEST

static Suite *
msg_suite(void)
{
	Suite *s = suite_create("msg");
	TCase *tc = tcase_create("codecs");

	tcase_add_test(tc, exec_req_round_trip_forwards_only_allowed_headers);
	tcase_add_test(tc, exec_req_token_only_round_trip);
	tcase_add_loop_test(tc, exec_req_refused, 0,
	    (int)(sizeof(bad_exec_reqs) / sizeof(bad_exec_reqs[0])));
	tcase_add_test(tc, exec_ans_round_trips_each_body_format);
	tcase_add_loop_test(tc, exec_ans_refused, 0,
	    (int)(sizeof(bad_exec_answers) / sizeof(bad_exec_answers[0])));
	tcase_add_test(tc, error_messages_are_cut_at_a_character);
	tcase_add_test(tc, small_messages_round_trip);
	tcase_add_test(tc, small_messages_refused);
	tcase_add_test(tc, token_stats_round_trip_and_refusals);
	tcase_add_test(tc, jwks_fail_round_trip_and_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(msg_suite());
	int failed;

	if (sodium_init() < 0)
		return 1;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
