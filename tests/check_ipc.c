/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The IPC codec: framing, and refusal of truncated, oversized, unknown and
 * malformed messages. */
#include "buildconf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "ipc.h"
#include "msg.h"
#include "proc.h"

static const uint32_t accept_exec[] = { MSG_EXEC_REQ, MSG_DESCRIBE_REQ };

struct pair {
	struct ipc_chan tx, rx;
};

static void
pair_open(struct pair *p)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ipc_chan_init(&p->tx, sv[0], "tx", NULL, 0);
	ipc_chan_init(&p->rx, sv[1], "rx", accept_exec, 2);
}

static void
pair_close(struct pair *p)
{
	ipc_chan_free(&p->tx);
	ipc_chan_free(&p->rx);
}

/* Writes raw bytes as a broken peer would. */
static void
raw_write(struct pair *p, const void *data, size_t n)
{
	ck_assert_int_eq(write(p->tx.fd, data, n), (ssize_t)n);
}

static void
raw_header(struct pair *p, uint32_t type, uint32_t len, uint32_t flags)
{
	struct ipc_hdr h = { type, flags, 7, len, 0 };

	raw_write(p, &h, sizeof(h));
}

/* Receives the next message on a channel accepting EXEC_ANS. */
static void
next_exec_ans(struct pair *p, struct ipc_msg *m)
{
	while (ipc_next(&p->rx, m) == IPC_NEED_MORE)
		ck_assert_int_gt(ipc_read(&p->rx), 0);
	ck_assert_uint_eq(m->hdr.type, MSG_EXEC_ANS);
}

static const uint32_t accept_ans[] = { MSG_EXEC_ANS };

/* brokerd --ready reads the token's roles from EXEC_ANS: they survive the
 * codec, in order; a call's token object (the tool result) never has them. */
START_TEST(exec_ans_roles_round_trip)
{
	struct msg_token_meta t = { .source = TOKEN_SOURCE_MINTED, .token_type = "Bearer",
		.expires_at = "2026-11-30T18:00:00Z", .has_roles = true,
		.roles = "User.Read.All Sites.Selected" };
	struct msg_exec_ans a;
	struct json_object *tool;
	struct ipc_msg m;
	struct pair p;
	const char *why = NULL;

	pair_open(&p);
	ipc_chan_init(&p.rx, p.rx.fd, "rx", accept_ans, 1);
	msg_exec_ans_send(&p.tx, 1, &t, NULL);
	t.has_roles = false;
	msg_exec_ans_send(&p.tx, 2, &t, NULL);
	ck_assert_int_eq(ipc_flush(&p.tx), 0);
	next_exec_ans(&p, &m);
	ck_assert_int_eq(msg_exec_ans_decode(&m, &a, &why), 0);
	ck_assert(a.token.has_roles);
	ck_assert_str_eq(a.token.roles, "User.Read.All Sites.Selected");
	tool = msg_token_meta_json(&a.token);
	ck_assert(!json_object_object_get_ex(tool, "roles", NULL));
	json_object_put(tool);
	msg_exec_ans_free(&a);
	ipc_done(&p.rx, &m);
	next_exec_ans(&p, &m);
	ck_assert_int_eq(msg_exec_ans_decode(&m, &a, &why), 0);
	ck_assert(!a.token.has_roles);
	ck_assert_str_eq(a.token.roles, "");
	msg_exec_ans_free(&a);
	pair_close(&p);
}
END_TEST

/* A role that is not a string, holds a space (roles travel space-joined)
 * or a control character is a malformed message. */
START_TEST(exec_ans_bad_roles_refused)
{
	static const char *const bad[] = {
		"{\"ok\":true,\"token\":{\"source\":\"minted\",\"token_type\":\"Bearer\","
		"\"expires_at\":\"x\",\"roles\":[\"a b\"]}}",
		"{\"ok\":true,\"token\":{\"source\":\"minted\",\"token_type\":\"Bearer\","
		"\"expires_at\":\"x\",\"roles\":[1]}}",
		"{\"ok\":true,\"token\":{\"source\":\"minted\",\"token_type\":\"Bearer\","
		"\"expires_at\":\"x\",\"roles\":\"User.Read.All\"}}",
		"{\"ok\":true,\"token\":{\"source\":\"minted\",\"token_type\":\"Bearer\","
		"\"expires_at\":\"x\",\"roles\":[\"\\u0001\"]}}",
	};
	struct msg_exec_ans a;
	struct ipc_msg m;
	struct pair p;

	pair_open(&p);
	ipc_chan_init(&p.rx, p.rx.fd, "rx", accept_ans, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;
		ck_assert_int_eq(ipc_send(&p.tx, MSG_EXEC_ANS, i + 1, bad[i], strlen(bad[i])), 0);
		ck_assert_int_eq(ipc_flush(&p.tx), 0);
		next_exec_ans(&p, &m);
		ck_assert_int_eq(msg_exec_ans_decode(&m, &a, &why), -1);
		ck_assert_ptr_nonnull(why);
		ipc_done(&p.rx, &m);
	}
	pair_close(&p);
}
END_TEST

START_TEST(round_trip_many)
{
	struct pair p;
	struct ipc_msg m;

	pair_open(&p);
	for (uint64_t i = 1; i <= 50; i++) {
		char body[32];
		int n = snprintf(body, sizeof(body), "{\"n\":%llu}", (unsigned long long)i);
		ck_assert_int_eq(ipc_send(&p.tx, MSG_EXEC_REQ, i, body, (size_t)n), 0);
	}
	ck_assert_int_eq(ipc_flush(&p.tx), 0);
	for (uint64_t i = 1; i <= 50; i++) {
		struct json_object *o;
		while (ipc_next(&p.rx, &m) == IPC_NEED_MORE)
			ck_assert_int_gt(ipc_read(&p.rx), 0);
		ck_assert_uint_eq(m.hdr.type, MSG_EXEC_REQ);
		ck_assert_uint_eq(m.hdr.id, i);
		o = ipc_msg_json(&m);
		ck_assert_ptr_nonnull(o);
		ck_assert_int_eq(json_object_get_int(json_object_object_get(o, "n")), (int)i);
		json_object_put(o);
		ipc_done(&p.rx, &m);
	}
	ck_assert_int_eq(ipc_next(&p.rx, &m), IPC_NEED_MORE);
	pair_close(&p);
}
END_TEST

START_TEST(empty_payload)
{
	struct pair p;
	struct ipc_msg m;

	pair_open(&p);
	ck_assert_int_eq(ipc_send(&p.tx, MSG_DESCRIBE_REQ, 3, NULL, 0), 0);
	ck_assert_int_eq(ipc_flush(&p.tx), 0);
	ck_assert_int_gt(ipc_read(&p.rx), 0);
	ck_assert_int_eq(ipc_next(&p.rx, &m), IPC_OK);
	ck_assert_uint_eq(m.hdr.len, 0);
	ck_assert_ptr_null(ipc_msg_json(&m));
	pair_close(&p);
}
END_TEST

START_TEST(partial_header_waits)
{
	struct pair p;
	struct ipc_msg m;
	struct ipc_hdr h = { MSG_EXEC_REQ, 0, 1, 2, 0 };

	pair_open(&p);
	raw_write(&p, &h, 10);
	ck_assert_int_gt(ipc_read(&p.rx), 0);
	ck_assert_int_eq(ipc_next(&p.rx, &m), IPC_NEED_MORE);
	raw_write(&p, (char *)&h + 10, sizeof(h) - 10);
	raw_write(&p, "{}", 2);
	ck_assert_int_gt(ipc_read(&p.rx), 0);
	ck_assert_int_eq(ipc_next(&p.rx, &m), IPC_OK);
	pair_close(&p);
}
END_TEST

START_TEST(truncated_header_at_eof)
{
	struct pair p;
	struct ipc_msg m;

	pair_open(&p);
	raw_write(&p, "\x01\x00\x00\x00\x00", 5);
	shutdown(p.tx.fd, SHUT_WR);
	while (ipc_read(&p.rx) > 0)
		;
	ck_assert(p.rx.eof);
	ck_assert_int_eq(ipc_next(&p.rx, &m), IPC_TRUNCATED);
	pair_close(&p);
}
END_TEST

START_TEST(truncated_payload_at_eof)
{
	struct pair p;
	struct ipc_msg m;

	pair_open(&p);
	raw_header(&p, MSG_EXEC_REQ, 100, 0);
	raw_write(&p, "{\"a\":", 5);
	shutdown(p.tx.fd, SHUT_WR);
	while (ipc_read(&p.rx) > 0)
		;
	ck_assert_int_eq(ipc_next(&p.rx, &m), IPC_TRUNCATED);
	pair_close(&p);
}
END_TEST

START_TEST(oversized_refused_before_payload)
{
	struct pair p;
	struct ipc_msg m;

	pair_open(&p);
	/* Only the header is sent: the length alone must be refused. */
	raw_header(&p, MSG_EXEC_REQ, IPC_MAX_PAYLOAD + 1, 0);
	ck_assert_int_gt(ipc_read(&p.rx), 0);
	ck_assert_int_eq(ipc_next(&p.rx, &m), IPC_BAD_LENGTH);
	pair_close(&p);
}
END_TEST

START_TEST(oversized_send_refused)
{
	struct pair p;
	char *big = calloc(1, IPC_MAX_PAYLOAD + 1);

	pair_open(&p);
	ck_assert_int_eq(ipc_send(&p.tx, MSG_EXEC_REQ, 1, big, IPC_MAX_PAYLOAD + 1), -1);
	ck_assert_int_eq(ipc_pending_out(&p.tx), 0);
	free(big);
	pair_close(&p);
}
END_TEST

START_TEST(max_payload_accepted)
{
	struct pair p;
	struct ipc_msg m;
	char *big = calloc(1, IPC_MAX_PAYLOAD);

	pair_open(&p);
	ck_assert_int_eq(proc_set_nonblock(p.tx.fd), 0);
	ck_assert_int_eq(ipc_send(&p.tx, MSG_EXEC_REQ, 9, big, IPC_MAX_PAYLOAD), 0);
	while (ipc_pending_out(&p.tx) || ipc_next(&p.rx, &m) == IPC_NEED_MORE) {
		ck_assert_int_ne(ipc_flush(&p.tx), -1);
		ipc_read(&p.rx);
	}
	ck_assert_int_eq(ipc_next(&p.rx, &m), IPC_OK);
	ck_assert_uint_eq(m.hdr.len, IPC_MAX_PAYLOAD);
	free(big);
	pair_close(&p);
}
END_TEST

START_TEST(unknown_type_refused)
{
	struct pair p;
	struct ipc_msg m;

	pair_open(&p);
	raw_header(&p, 999, 0, 0);
	ck_assert_int_gt(ipc_read(&p.rx), 0);
	ck_assert_int_eq(ipc_next(&p.rx, &m), IPC_BAD_TYPE);
	pair_close(&p);
}
END_TEST

START_TEST(wrong_channel_type_refused)
{
	struct pair p;
	struct ipc_msg m;

	/* A known type, but one this channel does not take: a secret answer
	 * arriving on the brokerd side of tokend's channel. */
	pair_open(&p);
	raw_header(&p, MSG_SECRET_ANS, 4, 0);
	raw_write(&p, "abcd", 4);
	ck_assert_int_gt(ipc_read(&p.rx), 0);
	ck_assert_int_eq(ipc_next(&p.rx, &m), IPC_BAD_TYPE);
	pair_close(&p);
}
END_TEST

START_TEST(reserved_bits_refused)
{
	struct pair p;
	struct ipc_msg m;

	pair_open(&p);
	raw_header(&p, MSG_EXEC_REQ, 0, 1);
	ck_assert_int_gt(ipc_read(&p.rx), 0);
	ck_assert_int_eq(ipc_next(&p.rx, &m), IPC_BAD_HEADER);
	pair_close(&p);
}
END_TEST

START_TEST(non_json_payload)
{
	struct pair p;
	struct ipc_msg m;

	pair_open(&p);
	ck_assert_int_eq(ipc_send(&p.tx, MSG_EXEC_REQ, 1, "[1,2]", 5), 0);
	ck_assert_int_eq(ipc_send(&p.tx, MSG_EXEC_REQ, 2, "{\"a\":", 5), 0);
	ck_assert_int_eq(ipc_flush(&p.tx), 0);
	ck_assert_int_gt(ipc_read(&p.rx), 0);
	ck_assert_int_eq(ipc_next(&p.rx, &m), IPC_OK);
	ck_assert_ptr_null(ipc_msg_json(&m)); /* an array is not an object */
	ipc_done(&p.rx, &m);
	ck_assert_int_eq(ipc_next(&p.rx, &m), IPC_OK);
	ck_assert_ptr_null(ipc_msg_json(&m));
	pair_close(&p);
}
END_TEST

/* NaN and Infinity are not JSON, though json-c reads and writes them: a
 * payload holding one is refused, the same words in a string and a huge
 * exponent (kept as written) are not. */
START_TEST(nonfinite_numbers_refused)
{
	static const char *const bad[] = { "{\"a\":NaN}", "{\"a\":[Infinity]}",
		"{\"a\":-Infinity}" };
	static const char *const good[] = { "{\"a\":\"NaN Infinity\\\" NaN\"}",
		"{\"a\":1e400}" };
	struct ipc_msg m;
	struct json_object *o;

	memset(&m, 0, sizeof(m));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m.data = (const unsigned char *)bad[i];
		m.hdr.len = (uint32_t)strlen(bad[i]);
		ck_assert_msg(ipc_msg_json(&m) == NULL, "accepted %s", bad[i]);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		m.data = (const unsigned char *)good[i];
		m.hdr.len = (uint32_t)strlen(good[i]);
		ck_assert_msg((o = ipc_msg_json(&m)) != NULL, "refused %s", good[i]);
		json_object_put(o);
	}
}
END_TEST

/* A peer sending garbage is a broken invariant: the receiver exits. */
START_TEST(checked_next_is_fatal)
{
	struct pair p;
	struct ipc_msg m;

	pair_open(&p);
	raw_header(&p, 12345, 0, 0);
	ipc_read(&p.rx);
	ipc_next_checked(&p.rx, &m);
}
END_TEST

START_TEST(consumed_bytes_wiped)
{
	struct pair p;
	struct ipc_msg m;
	const unsigned char *payload;

	pair_open(&p);
	ck_assert_int_eq(ipc_send(&p.tx, MSG_EXEC_REQ, 1, "{\"s\":\"hunter2\"}", 15), 0);
	ck_assert_int_eq(ipc_send(&p.tx, MSG_EXEC_REQ, 2, "{}", 2), 0);
	ck_assert_int_eq(ipc_flush(&p.tx), 0);
	ck_assert_int_gt(ipc_read(&p.rx), 0);
	ck_assert_int_eq(ipc_next(&p.rx, &m), IPC_OK);
	payload = m.data;
	ipc_done(&p.rx, &m);
	/* The second message is still buffered, so the first's bytes are still
	 * inside the buffer: they must be zero now. */
	for (size_t i = 0; i < 15; i++)
		ck_assert_int_eq(payload[i], 0);
	pair_close(&p);
}
END_TEST

/* A buffer that never held data has no block.  Its head and a zero-length
 * append or consume must not compute NULL + 0, which UBSan (the clang-asan
 * build) aborts on: tokend hands the head of an empty login or Graph body
 * to the parsers, and curl may deliver an empty write. */
START_TEST(empty_buffer_no_null_arithmetic)
{
	struct buf b;

	buf_init(&b);
	ck_assert_ptr_nonnull(buf_head(&b));
	ck_assert_uint_eq(buf_avail(&b), 0);
	ck_assert_int_eq(buf_append(&b, NULL, 0), 0);
	buf_consume(&b, 0);
	buf_consume(&b, 10);
	ck_assert_uint_eq(buf_avail(&b), 0);
	buf_free(&b);
}
END_TEST

/* ---- the certificate credential's messages ------------------------------ */

static struct ipc_msg
fake_msg(uint32_t type, uint64_t id, const char *payload)
{
	struct ipc_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = type;
	m.hdr.id = id;
	m.hdr.len = (uint32_t)strlen(payload);
	m.data = (const unsigned char *)payload;
	return m;
}

START_TEST(assertion_ans_only_a_compact_jws)
{
	static const char *const bad[] = { "", "abc", "a.b", "a.b.c.d", ".b.c", "a.b.", "a.b c.d",
		"a.b+c.d", "a.b/c.d", "a.b=.c", "a.b\nc.d" };
	const char *why = NULL;
	struct ipc_msg m = fake_msg(MSG_ASSERTION_ANS, 1, "eyJh-_.eyJi.c2ln");

	ck_assert_int_eq(msg_assertion_ans_decode(&m, &why), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = fake_msg(MSG_ASSERTION_ANS, 1, bad[i]);
		ck_assert_msg(msg_assertion_ans_decode(&m, &why) == -1, "accepted '%s'", bad[i]);
	}
}
END_TEST

START_TEST(assertion_req_names_nothing_else)
{
	const char *why = NULL;
	bool refresh = false;
	struct ipc_msg m = fake_msg(MSG_ASSERTION_REQ, 1, "{\"refresh\":true}");

	ck_assert_int_eq(msg_assertion_req_decode(&m, &refresh, &why), 0);
	ck_assert(refresh);
	m = fake_msg(MSG_ASSERTION_REQ, 1, "{\"refresh\":false,\"aud\":\"https://x\"}");
	ck_assert_int_eq(msg_assertion_req_decode(&m, &refresh, &why), -2);
	m = fake_msg(MSG_ASSERTION_REQ, 1, "[]");
	ck_assert_int_eq(msg_assertion_req_decode(&m, &refresh, &why), -1);
}
END_TEST

static const uint32_t accept_cert_info[] = { MSG_CERT_INFO };

START_TEST(cert_info_round_trip_and_shape)
{
	struct msg_cert_info in, out;
	struct pair p;
	struct ipc_msg m;
	const char *why = NULL;

	memset(&in, 0, sizeof(in));
	snprintf(in.subject, sizeof(in.subject), "CN=broker");
	memset(in.sha256, 'A', 64);
	memset(in.sha1, '0', 40);
	snprintf(in.not_after, sizeof(in.not_after), "2027-01-01T00:00:00Z");
	in.not_after_unix = 1798761600;
	pair_open(&p);
	p.rx.accept = accept_cert_info;
	p.rx.n_accept = 1;
	msg_cert_info_send(&p.tx, &in);
	ck_assert_int_eq(ipc_flush(&p.tx), 0);
	while (ipc_next(&p.rx, &m) == IPC_NEED_MORE)
		ck_assert_int_gt(ipc_read(&p.rx), 0);
	ck_assert_uint_eq(m.hdr.type, MSG_CERT_INFO);
	ck_assert_int_eq(msg_cert_info_decode(&m, &out, &why), 0);
	ck_assert_str_eq(out.sha256, in.sha256);
	ck_assert_str_eq(out.subject, "CN=broker");
	ck_assert_int_eq(out.not_after_unix, in.not_after_unix);
	ipc_done(&p.rx, &m);
	pair_close(&p);
	m = fake_msg(MSG_CERT_INFO, 0, "{\"sha256\":\"ab\",\"sha1\":\"cd\",\"not_after\":\"x\","
				       "\"not_after_unix\":1}");
	ck_assert_int_eq(msg_cert_info_decode(&m, &out, &why), -1);
}
END_TEST

static Suite *
ipc_suite(void)
{
	Suite *s = suite_create("ipc");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, round_trip_many);
	tcase_add_test(tc, exec_ans_roles_round_trip);
	tcase_add_test(tc, exec_ans_bad_roles_refused);
	tcase_add_test(tc, empty_payload);
	tcase_add_test(tc, partial_header_waits);
	tcase_add_test(tc, truncated_header_at_eof);
	tcase_add_test(tc, truncated_payload_at_eof);
	tcase_add_test(tc, oversized_refused_before_payload);
	tcase_add_test(tc, oversized_send_refused);
	tcase_add_test(tc, max_payload_accepted);
	tcase_add_test(tc, unknown_type_refused);
	tcase_add_test(tc, wrong_channel_type_refused);
	tcase_add_test(tc, reserved_bits_refused);
	tcase_add_test(tc, non_json_payload);
	tcase_add_test(tc, consumed_bytes_wiped);
	tcase_add_test(tc, empty_buffer_no_null_arithmetic);
	tcase_add_test(tc, nonfinite_numbers_refused);
	tcase_add_exit_test(tc, checked_next_is_fatal, 1);
	tcase_add_test(tc, assertion_ans_only_a_compact_jws);
	tcase_add_test(tc, assertion_req_names_nothing_else);
	tcase_add_test(tc, cert_info_round_trip_and_shape);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ipc_suite());
	int failed;

	if (sodium_init() < 0)
		return 1;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
