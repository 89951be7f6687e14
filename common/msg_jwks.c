/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The JWKS messages (msg.h), apart from msg.c so that only the programs
 * that check bearer tokens (brokerd, tokend) link cjose: secretd does not. */
#include <string.h>

#include "bearer.h"
#include "log.h"
#include "msg.h"

void
msg_jwks_req_send(struct ipc_chan *c)
{
	if (ipc_send(c, MSG_JWKS_REQ, 0, "{}", 2) == -1)
		fatalx("cannot queue JWKS_REQ to %s", c->peer);
}

int
msg_jwks_req_decode(const struct ipc_msg *m, const char **why)
{
	if (m->hdr.id != 0) {
		*why = "JWKS_REQ with an id";
		return -1;
	}
	if (m->hdr.len != 2 || memcmp(m->data, "{}", 2) != 0) {
		*why = "JWKS_REQ payload is not {}";
		return -1;
	}
	return 0;
}

void
msg_jwks_send(struct ipc_chan *c, const struct jwks *k)
{
	if (ipc_send(c, MSG_JWKS, 0, k->text, k->text_len) == -1)
		fatalx("cannot queue JWKS to %s: payload too long", c->peer);
}

/* The whole check is jwks_parse's: a set brokerd can verify with, or none. */
int
msg_jwks_decode(const struct ipc_msg *m, struct jwks *out, const char **why)
{
	if (m->hdr.id != 0) {
		*why = "JWKS with an id";
		return -1;
	}
	return jwks_parse(out, (const char *)m->data, m->hdr.len, why);
}
