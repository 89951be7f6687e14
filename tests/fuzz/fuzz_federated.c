/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* libFuzzer harness: the federated token file's content (secretd/federated.c).
 *
 * The file is written by the kubelet or a CI job, not by us: whatever it
 * holds, federated_parse returns 0, -1 or -2 without a crash, a leak or UB.
 * What it accepts goes to tokend as ASSERTION_ANS, whose decoder treats a
 * malformed one as a broken invariant (tokend exits): so everything
 * accepted, expired or not, must pass msg_assertion_ans_decode, and the
 * claims --check prints must be terminated and printable.  An accepted
 * token's exp is after the time it was judged at. */
#include "buildconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "msg.h"
#include "secretd.h"

/* A fixed "now", so that a seed's verdict does not change with the date. */
#define FUZZ_NOW 1796083200 /* 2026-12-01T00:00:00Z */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_federated", LOG_LEVEL_ERROR);
	return 0;
}

static void
check_claim(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap)
		abort(); /* not terminated */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct federated_info info;
	const char *why = NULL;
	struct ipc_msg m;
	int rc = federated_parse((const char *)data, size, FUZZ_NOW, &info, &why);

	if (rc != 0 && rc != -1 && rc != -2)
		abort();
	if (rc != 0 && why == NULL)
		abort();
	if (rc == -1)
		return 0;
	memset(&m, 0, sizeof(m));
	m.hdr.type = MSG_ASSERTION_ANS;
	m.hdr.len = (uint32_t)size;
	m.data = data;
	if (msg_assertion_ans_decode(&m, &why) == -1)
		abort(); /* tokend would exit on it */
	check_claim(info.iss, sizeof(info.iss));
	check_claim(info.sub, sizeof(info.sub));
	check_claim(info.aud, sizeof(info.aud));
	if ((rc == 0) != (info.exp > FUZZ_NOW))
		abort();
	return 0;
}
