/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* What brokerd and secretd must agree on about secretd's environment and the
 * credentials that pass through it (DESIGN.md section 1).
 *
 * brokerd gives secretd the MCP_AUTH_BROKER_* variables plus what its
 * provider needs (secretenv_wanted) and never OP_SERVICE_ACCOUNT_TOKEN,
 * which goes over the channel instead (MSG_OP_TOKEN).  A variable holding a
 * credential is copied into guarded memory and wiped from the environment
 * block in place (secretenv_take), so /proc/PID/environ no longer shows it. */
#ifndef MAB_SECRETENV_H
#define MAB_SECRETENV_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "guard.h"

#define OP_TOKEN_VAR "OP_SERVICE_ACCOUNT_TOKEN"
/* The name of the token under systemd's LoadCredential= */
#define OP_TOKEN_CREDENTIAL "op-service-account-token"
#define CREDENTIALS_DIR_VAR "CREDENTIALS_DIRECTORY"
/* op runs with the token in its environment.  A program the service user
 * can read is dumpable after execve, so any process of that user (tokend,
 * say) can read /proc/PID/environ while op runs; one it can only execute
 * is not. */
#define OP_READABLE_ADVICE                                                                    \
	"is readable by this user, so op's environment (the service-account token) is "      \
	"readable in /proc while it runs: install it execute-only, owned by root "           \
	"(chmod 0711)"
/* Where op is looked for when PATH is unset. */
#define SECRETENV_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* The variables `op` may need, passed from brokerd to secretd to op when
 * set: its search path, its configuration directory, and a proxy. */
extern const char *const secretenv_op_vars[];
/* The variables a command helper gets: nothing that could hold a secret. */
extern const char *const secretenv_helper_vars[];

/* Whether secretd receives this "NAME=value" entry of brokerd's environment
 * in addition to the MCP_AUTH_BROKER_* ones. */
bool secretenv_wanted(const struct config *cfg, const char *entry);
/* Whether "NAME=value" names the variable NAME. */
bool secretenv_is(const char *entry, const char *name);

/* The op to run: MCP_AUTH_BROKER_OP_PATH, else the first executable "op" in
 * search_path (a PATH value; NULL for the default).  -1 when there is none. */
int secretenv_find_op(const struct config *cfg, const char *search_path, char *out,
    size_t outlen);
/* dir/name into out; -1 when dir is NULL or empty, or the result too long. */
int secretenv_credential_path(const char *dir, const char *name, char *out, size_t outlen);
/* Whether the systemd credential holding the 1Password token exists. */
bool secretenv_op_credential_exists(void);

/* brokerd's start-up checks of the provider against the environment: op
 * found, its token available, the helper executable, the env provider's
 * variable set, $CREDENTIALS_DIRECTORY set for a credential name.  Each
 * problem goes to errs like config_load's; returns 0 or -1. */
int secretenv_check(const struct config *cfg, struct config_errors *errs);
/* Prints each problem and exits 78 (as config_load_or_exit). */
void secretenv_check_or_exit(const struct config *cfg);

/* Copies NAME's value into out (NULL: only wipe) and removes NAME from the
 * environment, overwriting the whole entry where it lies in memory.
 * Returns 1 when found, 0 when not set, -1 when guarded memory ran out. */
int secretenv_take(const char *name, struct guarded *out);

#endif
