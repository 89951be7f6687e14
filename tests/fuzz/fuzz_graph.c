/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* libFuzzer harness: Graph's answer in tokend (tokend/graph.c, http.c).
 *
 * The input is an HTTP answer as curl hands it over: two bytes of status
 * (their value modulo 1000; an odd number of thousands says the request was
 * a $batch), then header lines, each ending in "\n", up to an empty line,
 * then the body.  Each header line goes through curl's header callback
 * (xfer_on_header), Retry-After through retry_after_seconds, and status,
 * kept headers and body through graph_parse_answer, as graph_done does.
 *
 * Beyond "no crash, no leak, no UB": the headers kept are short printable
 * ASCII; a body is refused only as provider.bad_response; and an accepted
 * answer, wrapped into the EXEC_ANS that exec_answer sends, is one that
 * brokerd accepts (msg_exec_ans_decode, as tools_answer uses it): brokerd
 * treats a malformed EXEC_ANS as fatal, so anything Graph can answer that
 * brokerd cannot read back would take the broker down. */
#include "buildconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "jsonx.h"
#include "log.h"
#include "msg.h"
#include "tokend.h"

/* Bound on what the envelope and kept headers (a Location up to 4 KiB)
 * add to a body's length. */
#define ENVELOPE_MAX 8192

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_graph", LOG_LEVEL_ERROR);
	return 0;
}

static void
check_kept(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			abort();
}

/* Header lines up to the empty one; returns where the body starts. */
static size_t
feed_headers(struct xfer *xf, const uint8_t *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		const uint8_t *nl = memchr(p + off, '\n', n - off);
		size_t len = nl ? (size_t)(nl - (p + off)) + 1 : n - off;
		char *line;

		if (len == 1 || (len == 2 && p[off] == '\r'))
			return off + len;
		/* An exact-size copy, so ASan sees a read past the line. */
		if ((line = malloc(len)) == NULL)
			abort();
		memcpy(line, p + off, len);
		if (xfer_on_header(line, 1, len, xf) != len)
			abort();
		free(line);
		off += len;
	}
	return off;
}

/* exec_answer's envelope, as brokerd's tools_answer reads it back. */
static void
check_exec_ans(long status, struct json_object *ex, size_t body_len)
{
	struct msg_token_meta tok = { .source = TOKEN_SOURCE_MINTED, .token_type = "Bearer",
		.expires_at = "2026-01-01T00:00:00Z" };
	struct msg_exec_ans back;
	struct ipc_chan c;
	struct ipc_msg m;
	const char *why = NULL, *format;

	/* As exec_answer sends it, and as brokerd decodes it. */
	ipc_chan_init(&c, -1, "fuzz", NULL, 0);
	msg_exec_ans_send(&c, 1, &tok, ex);
	memset(&m, 0, sizeof(m));
	memcpy(&m.hdr, buf_head(&c.out), sizeof(m.hdr));
	m.data = buf_head(&c.out) + sizeof(m.hdr);
	/* Re-serialising JSON must not grow a body; text grows by its escapes
	 * (at most six bytes a byte), binary by base64's third.  tokend refuses
	 * what then exceeds IPC_MAX_PAYLOAD (msg_exec_ans_try_send). */
	format = jx_get_str(ex, "body_format");
	if (format == NULL)
		abort();
	if (m.hdr.len > (strcmp(format, "text") == 0 || strcmp(format, "batch") == 0 ? 6 * body_len :
			    strcmp(format, "json") == 0 ? body_len : body_len / 3 * 4 + 4) +
		ENVELOPE_MAX)
		abort();
	if (msg_exec_ans_decode(&m, &back, &why) != 0 || back.code != ERR_NONE ||
	    back.http_status != status || back.execution == NULL ||
	    strcmp(msg_body_format_name(back.body_format), format) != 0)
		abort();
	if (!json_object_equal(jx_get(back.execution, "body"), jx_get(ex, "body")) ||
	    !json_object_equal(jx_get(back.execution, "body_base64"), jx_get(ex, "body_base64")))
		abort();
	msg_exec_ans_free(&back);
	ipc_chan_free(&c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xfer xf;
	struct json_object *ex = (struct json_object *)&xf; /* must be overwritten */
	const char *why = NULL;
	enum err_code code;
	size_t body_off, len;
	long status, ra;
	char *body;

	if (size < 2)
		return 0;
	status = (long)(((unsigned)data[0] << 8 | data[1]) % 1000);
	memset(&xf, 0, sizeof(xf));
	body_off = 2 + feed_headers(&xf, data + 2, size - 2);
	check_kept(xf.request_id, sizeof(xf.request_id));
	check_kept(xf.client_request_id, sizeof(xf.client_request_id));
	check_kept(xf.retry_after, sizeof(xf.retry_after));
	check_kept(xf.content_type, sizeof(xf.content_type));
	check_kept(xf.location, sizeof(xf.location));
	ra = retry_after_seconds(xf.retry_after);
	if (ra < -1 || ra > 3600)
		abort();
	len = size - body_off;
	if ((body = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(body, data + body_off, len);
	code = graph_parse_answer(&(struct msg_graph_meta){ status, xf.request_id,
				      xf.client_request_id, xf.retry_after, xf.content_type,
				      xf.location },
	    ((((unsigned)data[0] << 8 | data[1]) / 1000) & 1) != 0, body, len, &ex, &why);
	if (code == ERR_NONE) {
		if (ex == NULL)
			abort();
		check_exec_ans(status, ex, len);
		json_object_put(ex);
	} else if (code != ERR_PROVIDER_BAD_RESPONSE || ex != NULL || why == NULL ||
	    (len == 0 && status >= 100 && status <= 599)) {
		abort();
	}
	free(body);
	return 0;
}
