/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The configured secret provider (MCP_AUTH_BROKER_SECRET_PROVIDER).
 *
 * Only the reference fixed in the configuration is ever resolved: nothing
 * that reaches secretd at run time names a reference, so neither a
 * compromised brokerd nor a compromised tokend can point secretd at another
 * secret.  `1password` is the `command` mechanism with `op read` as the
 * helper, plus the service-account token in the helper's environment. */
#include "buildconf.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "secretd.h"
#include "secretenv.h"

/* Smoke mode's stand-in client secret.  Its prefix lets the leak tests prove
 * that it never reaches brokerd's output or logs. */
#define SMOKE_SECRET "smoke-secret-0f1e2d3c4b5a69788796a5b4c3d2e1f0"

static int
provider_fail(struct secret_error *err, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
provider_fail(struct secret_error *err, enum err_code code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* The helper's environment is built from these, as they are in ours. */
static void
provider_pass_env(struct provider *p, const char *const *names)
{
	for (size_t i = 0; names[i] != NULL; i++) {
		const char *v = getenv(names[i]);
		char *entry, **env;
		if (v == NULL)
			continue;
		if (asprintf(&entry, "%s=%s", names[i], v) == -1)
			fatalx("out of memory");
		if ((env = realloc(p->helper_env, (p->n_helper_env + 1) * sizeof(*env))) == NULL)
			fatalx("out of memory");
		env[p->n_helper_env++] = entry;
		p->helper_env = env;
	}
}

static int
provider_init_helper(struct provider *p, const struct config *cfg, struct secret_error *err)
{
	if (p->kind == SECRET_PROVIDER_1PASSWORD) {
		if (secretenv_find_op(cfg, getenv("PATH"), p->helper, sizeof(p->helper)) == -1)
			return provider_fail(err, ERR_SECRET_UNAVAILABLE,
			    "op not found (MCP_AUTH_BROKER_OP_PATH, or 'op' on PATH)");
		provider_pass_env(p, secretenv_op_vars);
		if (access(p->helper, R_OK) == 0)
			log_warnx("%s " OP_READABLE_ADVICE, p->helper);
		return 0;
	}
	if ((size_t)snprintf(p->helper, sizeof(p->helper), "%s", cfg->secret_helper) >=
		sizeof(p->helper) ||
	    access(p->helper, X_OK) == -1)
		return provider_fail(err, ERR_SECRET_UNAVAILABLE,
		    "MCP_AUTH_BROKER_SECRET_HELPER %s is not executable", cfg->secret_helper);
	provider_pass_env(p, secretenv_helper_vars);
	return 0;
}

int
provider_init(struct provider *p, const struct config *cfg, struct secret_error *err)
{
	const char *cred_dir = getenv(CREDENTIALS_DIR_VAR);
	int rc;

	memset(p, 0, sizeof(*p));
	p->kind = cfg->secret_provider;
	p->ref = cfg->secret_ref;
	p->passphrase_ref = cfg->certificate_passphrase_ref;
	p->timeout_s = cfg->secret_timeout_s;
	if (cred_dir != NULL && *cred_dir != '\0')
		p->cred_dir = xstrdup(cred_dir);
	switch (p->kind) {
	case SECRET_PROVIDER_1PASSWORD:
	case SECRET_PROVIDER_COMMAND:
		return provider_init_helper(p, cfg, err);
	case SECRET_PROVIDER_ENV:
		/* A managed identity's IDENTITY_HEADER is the agent's own
		 * variable, not an operator's development shortcut. */
		if (cfg->graph_credential != GRAPH_CREDENTIAL_MANAGED_IDENTITY)
			log_warnx("MCP_AUTH_BROKER_SECRET_PROVIDER=env is for development only: the secret "
				  "passed through brokerd's environment; use file, command or "
				  "1password");
		/* Out of our environment (and /proc/PID/environ) at once. */
		if ((rc = secretenv_take(p->ref, &p->env_secret)) == -1)
			fatalx("out of guarded memory");
		p->have_env_secret = rc == 1;
		if (p->passphrase_ref != NULL &&
		    (rc = secretenv_take(p->passphrase_ref, &p->env_passphrase)) == -1)
			fatalx("out of guarded memory");
		p->have_env_passphrase = p->passphrase_ref != NULL && rc == 1;
		return 0;
	default:
		return 0;
	}
}

void
provider_set_op_token(struct provider *p, const unsigned char *token, size_t n)
{
	struct secret_error err;
	char path[4096];

	guard_free(&p->op_token);
	p->have_op_token = false;
	/* systemd's credential wins: brokerd then sends an empty message. */
	if (secretenv_credential_path(p->cred_dir, OP_TOKEN_CREDENTIAL, path, sizeof(path)) == 0 &&
	    access(path, F_OK) == 0) {
		p->have_op_token = file_read_secret(OP_TOKEN_CREDENTIAL, p->cred_dir, &p->op_token,
				       &err) == 0;
		log_debug("1Password token from the credential %s%s", OP_TOKEN_CREDENTIAL,
		    p->have_op_token ? "" : ": unusable");
		return;
	}
	if (n == 0) {
		log_error("no 1Password service account token: set " OP_TOKEN_VAR
			  " or the credential " OP_TOKEN_CREDENTIAL);
		return;
	}
	if (guard_store(&p->op_token, token, n) == -1)
		fatalx("out of guarded memory");
	p->have_op_token = true;
}

/* ---- running a helper --------------------------------------------------- */

/* The helper's environment: the passed-through variables, plus for op the
 * token, in guarded memory (released with provider_env_free), and
 * OP_CACHE=false: op's cache is a daemon it starts, which would outlive the
 * process group secretd stops after each run. */
static char **
provider_env(struct provider *p, char **token_entry)
{
	static char op_cache_off[] = "OP_CACHE=false";
	char **env = calloc(p->n_helper_env + 3, sizeof(*env));
	size_t n = 0, len;

	if (env == NULL)
		fatalx("out of memory");
	for (size_t i = 0; i < p->n_helper_env; i++)
		env[n++] = p->helper_env[i];
	*token_entry = NULL;
	if (p->kind == SECRET_PROVIDER_1PASSWORD) {
		len = strlen(OP_TOKEN_VAR "=") + p->op_token.len + 1;
		if ((*token_entry = sodium_malloc(len)) == NULL)
			fatalx("out of guarded memory");
		memcpy(*token_entry, OP_TOKEN_VAR "=", strlen(OP_TOKEN_VAR "="));
		memcpy(*token_entry + strlen(OP_TOKEN_VAR "="), guard_open(&p->op_token),
		    p->op_token.len);
		guard_close(&p->op_token);
		(*token_entry)[len - 1] = '\0';
		env[n++] = *token_entry;
		env[n++] = op_cache_off;
	}
	env[n] = NULL;
	return env;
}

/* The helper's stderr, redacted of every secret we know of, for the log. */
static void
provider_log_stderr(struct provider *p, const struct guarded *known, struct helper_result *r,
    bool failed)
{
	struct redact_secret s[3] = { { NULL, 0 }, { NULL, 0 }, { NULL, 0 } };
	char text[512];

	if (r->err_len == 0)
		return;
	s[0] = (struct redact_secret){ guard_open(&p->op_token), p->op_token.len };
	s[1] = (struct redact_secret){ guard_open(known), known->len };
	s[2] = (struct redact_secret){ guard_open(&r->out), r->out.len };
	opmap_redact(r->err, r->err_len, s, 3, text, sizeof(text));
	guard_close(&p->op_token);
	guard_close(known);
	guard_close(&r->out);
	if (failed)
		log_warnx("secret helper said: %s", text);
	else
		log_debug("secret helper said: %s", text);
}

/* What the helper's run means: the secret in out, or an error. */
static int
provider_outcome(struct provider *p, const struct guarded *known, struct helper_result *r,
    struct guarded *out, struct secret_error *err)
{
	const char *why;
	enum err_code code;
	bool ok = r->status == HELPER_EXITED && WIFEXITED(r->wstatus) && WEXITSTATUS(r->wstatus) == 0;

	provider_log_stderr(p, known, r, !ok);
	if (r->status == HELPER_NOT_STARTED)
		return provider_fail(err, ERR_SECRET_UNAVAILABLE, "the secret helper could not be started");
	if (r->status == HELPER_TIMEOUT) {
		log_warnx("%s did not finish within %lds: killed it and its process group", p->helper,
		    p->timeout_s);
		return provider_fail(err, ERR_SECRET_TIMEOUT,
		    "the secret provider did not answer within %ld s", p->timeout_s);
	}
	if (r->status == HELPER_TOO_MUCH)
		return provider_fail(err, ERR_SECRET_UNAVAILABLE,
		    "the secret helper printed more than %u bytes", HELPER_OUT_MAX);
	if (!ok && WIFSIGNALED(r->wstatus) && WTERMSIG(r->wstatus) == SIGSYS) {
		/* The helper inherits the launcher's denylist (common/sandbox.c). */
		log_error("%s was killed by SIGSYS: it made a system call the helper seccomp filter "
			  "denies (the kernel log names it: audit type=1326 ... syscall=N)",
		    p->helper);
		return provider_fail(err, ERR_SECRET_UNAVAILABLE,
		    "the secret helper made a forbidden system call (see secretd's log)");
	}
	if (!ok) {
		code = opmap_classify(r->err, r->err_len, &why);
		if (WIFEXITED(r->wstatus))
			log_warnx("%s failed (exit %d): %s", p->helper, WEXITSTATUS(r->wstatus),
			    err_name(code));
		else
			log_warnx("%s was killed by signal %d: %s", p->helper, WTERMSIG(r->wstatus),
			    err_name(code));
		return provider_fail(err, code, "%s", why);
	}
	if (r->out.len == 0)
		return provider_fail(err, ERR_SECRET_NOT_FOUND, "the secret helper printed nothing");
	*out = r->out; /* ownership moves: nothing is copied */
	r->out = (struct guarded){ NULL, 0 };
	return 0;
}

/* A command helper prints a line; the newline is not part of the secret. */
static void
strip_newline(struct guarded *g)
{
	const unsigned char *p = guard_open(g);

	if (g->len > 0 && p[g->len - 1] == '\n')
		g->len -= (g->len > 1 && p[g->len - 2] == '\r') ? 2 : 1;
	guard_close(g);
}

static int
provider_run(struct provider *p, const char *ref, const struct guarded *known,
    struct guarded *out, struct secret_error *err)
{
	char *op_argv[] = { p->helper, "read", "--no-newline", (char *)ref, NULL };
	char *cmd_argv[] = { p->helper, (char *)ref, NULL };
	bool op = p->kind == SECRET_PROVIDER_1PASSWORD;
	struct helper_result r;
	char *token_entry, **env;
	int rc;

	if (op && !p->have_op_token)
		return provider_fail(err, ERR_SECRET_ACCESS_DENIED,
		    "no usable 1Password service account token (see secretd's log)");
	env = provider_env(p, &token_entry);
	if (p->launcher != NULL)
		launcher_run(p->launcher, p->helper, op ? op_argv : cmd_argv, env, p->timeout_s, &r);
	else
		helper_run(p->helper, op ? op_argv : cmd_argv, env, p->timeout_s, &r);
	if (token_entry != NULL)
		sodium_free(token_entry); /* wipes */
	free(env);
	if (!op && r.status == HELPER_EXITED)
		strip_newline(&r.out);
	rc = provider_outcome(p, known, &r, out, err);
	helper_result_clear(&r);
	return rc;
}

/* ---- the providers ---------------------------------------------------- */

static int
provider_copy(const struct guarded *src, struct guarded *out)
{
	int rc = guard_store(out, guard_open(src), src->len);

	guard_close(src);
	if (rc == -1)
		fatalx("out of guarded memory");
	return 0;
}

/* ref is one of the configured references; env is what the env provider
 * took for it at start (have: whether the variable was set). */
static int
provider_resolve_ref(struct provider *p, const char *ref, const struct guarded *env, bool have,
    const struct guarded *known, struct guarded *out, struct secret_error *err)
{
	switch (p->kind) {
	case SECRET_PROVIDER_SMOKE:
		if (guard_store(out, SMOKE_SECRET, strlen(SMOKE_SECRET)) == -1)
			fatalx("out of guarded memory");
		return 0;
	case SECRET_PROVIDER_ENV:
		if (!have)
			return provider_fail(err, ERR_SECRET_NOT_FOUND,
			    "the environment variable named by the secret reference was not set");
		return provider_copy(env, out);
	case SECRET_PROVIDER_FILE:
		return file_read_secret(ref, p->cred_dir, out, err);
	case SECRET_PROVIDER_1PASSWORD:
	case SECRET_PROVIDER_COMMAND:
		return provider_run(p, ref, known, out, err);
	case SECRET_PROVIDER_NONE:
	default:
		return provider_fail(err, ERR_SECRET_UNAVAILABLE,
		    "no secret provider configured (MCP_AUTH_BROKER_SECRET_PROVIDER=none)");
	}
}

int
provider_resolve(struct provider *p, const struct guarded *known, struct guarded *out,
    struct secret_error *err)
{
	return provider_resolve_ref(p, p->ref, &p->env_secret, p->have_env_secret, known, out, err);
}

int
provider_resolve_passphrase(struct provider *p, const struct guarded *known, struct guarded *out,
    struct secret_error *err)
{
	char why[sizeof(err->message)];

	if (p->passphrase_ref == NULL)
		return provider_fail(err, ERR_SECRET_UNAVAILABLE, "no passphrase reference configured");
	if (provider_resolve_ref(p, p->passphrase_ref, &p->env_passphrase, p->have_env_passphrase,
		known, out, err) == 0)
		return 0;
	/* Said apart from the PEM's failures: the operator checks another
	 * reference. */
	snprintf(why, sizeof(why), "%s", err->message);
	return provider_fail(err, err->code,
	    "certificate credential: the passphrase MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF "
	    "names cannot be resolved: %s", why);
}

void
provider_free(struct provider *p)
{
	for (size_t i = 0; i < p->n_helper_env; i++)
		free(p->helper_env[i]);
	free(p->helper_env);
	guard_free(&p->op_token);
	guard_free(&p->env_secret);
	guard_free(&p->env_passphrase);
	free(p->cred_dir);
	memset(p, 0, sizeof(*p));
}
