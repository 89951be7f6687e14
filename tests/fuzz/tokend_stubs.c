/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* What tokend/main.c provides to the rest of tokend, for the fuzz harnesses
 * that link tokend's other files without its main.  The parsers they call
 * never reach these; if one does, that is a finding. */
#include "buildconf.h"

#include <stdlib.h>

#include "tokend.h"

void
exec_answer(struct tokend *td, struct exec *x, struct json_object *execution)
{
	(void)td, (void)x, (void)execution;
	abort();
}

void
exec_fail(struct tokend *td, struct exec *x, enum err_code code, const char *msg)
{
	(void)td, (void)x, (void)code, (void)msg;
	abort();
}

void
exec_progress(struct tokend *td, struct exec *x, const char *message, int64_t retry_in_ms)
{
	(void)td, (void)x, (void)message, (void)retry_in_ms;
	abort();
}

void
mint_done(struct tokend *td, struct token_entry *e, enum err_code code, const char *msg,
    long retry_after_s, const char *failure_sig)
{
	(void)td, (void)e, (void)code, (void)msg, (void)retry_after_s, (void)failure_sig;
	abort();
}

bool
mint_retry_with_fresh_secret(struct tokend *td, struct token_entry *e)
{
	(void)td, (void)e;
	abort();
}

void
stats_changed(struct tokend *td)
{
	(void)td;
}
