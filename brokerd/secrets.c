/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* brokerd's side of secretd: the credentials brokerd receives from its own
 * environment but must pass on and not keep, and what secretd reports about
 * the secret (its fingerprint, never the secret).
 *
 * brokerd reads client input, so it is the process most likely to be
 * compromised: OP_SERVICE_ACCOUNT_TOKEN, and the env provider's variable,
 * must be gone from its memory and from /proc/PID/environ before the first
 * client byte is read. */
#include "buildconf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "brokerd.h"
#include "jsonx.h"
#include "log.h"
#include "msg.h"
#include "proc.h"
#include "report.h"
#include "secretenv.h"
#include "timeutil.h"

extern char **environ;

void
secrets_take(struct broker *b)
{
	/* Whatever the provider: a token nobody needs must not linger either. */
	if (secretenv_take(OP_TOKEN_VAR, &b->op_token) == -1)
		fatalx("out of guarded memory");
}

static void
secrets_send_op_token(struct broker *b)
{
	const unsigned char *p = NULL;
	size_t n = 0;

	/* With the systemd credential secretd reads the token itself: it then
	 * never passes through brokerd, and an empty message says so. */
	if (!secretenv_op_credential_exists() && b->op_token.p != NULL) {
		p = guard_open(&b->op_token);
		n = b->op_token.len;
	}
	msg_op_token_send(&b->secretd.chan, p, n);
	if (p != NULL)
		guard_close(&b->op_token);
	/* Written at once: the channel buffer wipes what it has sent, so no
	 * copy waits there while brokerd starts reading client input. */
	if (ipc_flush(&b->secretd.chan) == -1 && errno != EPIPE && errno != ECONNRESET)
		fatal("write to secretd");
}

void
secrets_hand_over(struct broker *b)
{
	bool real = b->cfg.env != BROKER_ENV_SMOKE;

	if (real && b->cfg.secret_provider == SECRET_PROVIDER_1PASSWORD)
		secrets_send_op_token(b);
	guard_free(&b->op_token);
	/* secretd got its copy at exec; only secretd keeps it. */
	if (real && b->cfg.secret_provider == SECRET_PROVIDER_ENV) {
		secretenv_take(b->cfg.secret_ref, NULL);
		if (b->cfg.certificate_passphrase_ref != NULL)
			secretenv_take(b->cfg.certificate_passphrase_ref, NULL);
	}
}

static void
secrets_info(struct broker *b, const struct ipc_msg *m)
{
	struct msg_secret_info info;
	const char *why = NULL;

	if (msg_secret_info_decode(m, &info, &why) == -1)
		fatalx("malformed SECRET_INFO from secretd: %s", why);
	memcpy(b->secret_fingerprint, info.fingerprint, sizeof(b->secret_fingerprint));
	snprintf(b->secret_provider, sizeof(b->secret_provider), "%s", info.provider);
	/* What an operator greps for to confirm that a rotation took effect. */
	log_info("secret fingerprint %s (provider %s)", b->secret_fingerprint, b->secret_provider);
}

bool
secrets_cert_line(const struct msg_cert_info *c, int64_t now, char *out, size_t len)
{
	int64_t left_days = (c->not_after_unix - now) / 86400;

	out[0] = '\0';
	if (c->sha1[0] == '\0')
		return false;
	snprintf(out, len, "subject %s, SHA-256 %s, SHA-1 %s, expires %s%s", c->subject, c->sha256,
	    c->sha1, c->not_after,
	    c->not_after_unix <= now ? " (EXPIRED)"
	    : left_days < CERT_WARN_DAYS ? " (within 30 days: renew it and upload the new one)"
					 : "");
	return c->not_after_unix - now < (int64_t)CERT_WARN_DAYS * 86400;
}

/* The certificate's public facts: what the app registration shows. */
static void
secrets_cert_info(struct broker *b, const struct ipc_msg *m)
{
	const char *why = NULL;
	char line[768];

	if (msg_cert_info_decode(m, &b->cert, &why) == -1)
		fatalx("malformed CERT_INFO from secretd: %s", why);
	if (secrets_cert_line(&b->cert, (int64_t)time(NULL), line, sizeof(line)))
		log_warnx("certificate credential: %s", line);
	else
		log_info("certificate credential: %s", line);
}

void
secrets_dispatch(struct broker *b, const struct ipc_msg *m)
{
	switch (m->hdr.type) {
	case MSG_SECRET_INFO:
		secrets_info(b, m);
		break;
	case MSG_CERT_INFO:
		secrets_cert_info(b, m);
		break;
	default: {
		/* brokerd asks secretd for nothing: a refusal can only answer a
		 * request it did not make. */
		struct msg_error err;
		const char *why = NULL;

		if (msg_secret_err_decode(m, &err, &why) == -1)
			fatalx("malformed SECRET_ERR from secretd: %s", why);
		log_warnx("secretd refused request %llu from brokerd: %s",
		    (unsigned long long)m->hdr.id, err.message);
		break;
	}
	}
}

/* ---- brokerd --check: the certificate or federated token, as secretd
 * reads it ---------------------------------------------------------------- */

/* secretd's environment for a one-shot run: what children.c gives it. */
static char **
describe_environ(const struct config *cfg)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 1, sizeof(*env))) == NULL)
		fatalx("out of memory");
	for (size_t i = 0; i < n; i++)
		if (config_is_broker_var(environ[i]) || secretenv_wanted(cfg, environ[i]))
			env[k++] = environ[i];
	return env;
}

static pid_t
describe_spawn(const struct config *cfg, const char *what, int *in_fd, int *out_fd)
{
	int in[2], out[2];
	char path[4096];
	char **env = describe_environ(cfg);
	pid_t pid;

	children_program_path(cfg->libexecdir, "secretd", path, sizeof(path));
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		char *const argv[] = { path, (char *)what, NULL };
		if (dup2(in[0], STDIN_FILENO) == -1 || dup2(out[1], STDOUT_FILENO) == -1)
			_exit(127);
		proc_close_from(STDERR_FILENO + 1);
		signal(SIGPIPE, SIG_DFL);
		execve(path, argv, env);
		_exit(127);
	}
	free(env);
	close(in[0]);
	close(out[1]);
	*in_fd = in[1];
	*out_fd = out[0];
	return pid;
}

/* The 1Password token goes to secretd on its stdin, as brokerd sends it on
 * the channel when serving: never in secretd's environment. */
static void
describe_send_op_token(const struct config *cfg, int fd)
{
	const char *token = getenv(OP_TOKEN_VAR);
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);

	if (cfg->secret_provider == SECRET_PROVIDER_1PASSWORD && token != NULL &&
	    !secretenv_op_credential_exists())
		(void)!write(fd, token, strlen(token));
	signal(SIGPIPE, old);
	close(fd);
}

static void
describe_parse(char *text, struct msg_cert_info *ci, char *why, size_t len)
{
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		*eq++ = '\0';
		if (strcmp(line, "subject") == 0)
			snprintf(ci->subject, sizeof(ci->subject), "%s", eq);
		else if (strcmp(line, "sha256") == 0)
			snprintf(ci->sha256, sizeof(ci->sha256), "%s", eq);
		else if (strcmp(line, "sha1") == 0)
			snprintf(ci->sha1, sizeof(ci->sha1), "%s", eq);
		else if (strcmp(line, "not_after") == 0)
			snprintf(ci->not_after, sizeof(ci->not_after), "%s", eq);
		else if (strcmp(line, "not_after_unix") == 0)
			ci->not_after_unix = strtoll(eq, NULL, 10);
		else if (strcmp(line, "error") == 0)
			snprintf(why, len, "%s", eq);
	}
}

/* Runs secretd with what (--describe-certificate, --describe-federated)
 * and returns what it printed in text. */
static void
describe_run(const struct config *cfg, const char *what, char *text, size_t cap)
{
	int64_t deadline = mono_ms() + (cfg->secret_timeout_s + 5) * 1000;
	size_t n = 0;
	bool eof = false;
	int in, out, status;
	pid_t pid = describe_spawn(cfg, what, &in, &out);

	describe_send_op_token(cfg, in);
	while (n < cap - 1) {
		struct pollfd pfd = { out, POLLIN, 0 };
		ssize_t r;
		if (poll(&pfd, 1, poll_timeout_ms(deadline)) <= 0)
			break;
		if ((r = read(out, text + n, cap - 1 - n)) <= 0) {
			eof = r == 0;
			break;
		}
		n += (size_t)r;
	}
	text[n] = '\0';
	close(out);
	if (!eof)
		kill(pid, SIGKILL); /* out of time, or talking too much */
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
}

int
secrets_describe_certificate(const struct config *cfg, struct msg_cert_info *ci, char *why,
    size_t len)
{
	char text[2048];

	memset(ci, 0, sizeof(*ci));
	snprintf(why, len, "secretd --describe-certificate gave no answer");
	describe_run(cfg, "--describe-certificate", text, sizeof(text));
	describe_parse(text, ci, why, len);
	return ci->sha1[0] != '\0' && ci->sha256[0] != '\0' ? 0 : -1;
}

int
secrets_describe_federated(const struct config *cfg, struct federated_claims *fc, char *why,
    size_t len)
{
	char text[2048], *save = NULL;

	memset(fc, 0, sizeof(*fc));
	snprintf(why, len, "secretd --describe-federated gave no answer");
	describe_run(cfg, "--describe-federated", text, sizeof(text));
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		*eq++ = '\0';
		if (strcmp(line, "iss") == 0)
			snprintf(fc->iss, sizeof(fc->iss), "%s", eq);
		else if (strcmp(line, "sub") == 0)
			snprintf(fc->sub, sizeof(fc->sub), "%s", eq);
		else if (strcmp(line, "aud") == 0)
			snprintf(fc->aud, sizeof(fc->aud), "%s", eq);
		else if (strcmp(line, "exp") == 0)
			snprintf(fc->exp, sizeof(fc->exp), "%s", eq);
		else if (strcmp(line, "exp_unix") == 0)
			fc->exp_unix = strtoll(eq, NULL, 10);
		else if (strcmp(line, "error") == 0)
			snprintf(why, len, "%s", eq);
	}
	return fc->exp_unix > 0 ? 0 : -1;
}

/* The audience Entra ID expects of a federated token unless the federated
 * identity credential names another. */
#define FEDERATED_AUDIENCE "api://AzureADTokenExchange"

void
secrets_federated_describe(const struct config *cfg, struct federated_check *fc)
{
	memset(fc, 0, sizeof(*fc));
	if (cfg->env == BROKER_ENV_SMOKE || cfg->graph_credential != GRAPH_CREDENTIAL_FEDERATED)
		return;
	fc->described = true;
	fc->ok = secrets_describe_federated(cfg, &fc->claims, fc->why, sizeof(fc->why)) == 0;
}

void
secrets_federated_report(struct report *t, const struct config *cfg,
    const struct federated_check *fc)
{
	const struct federated_claims *c = &fc->claims;

	if (!fc->described)
		return;
	if (!fc->ok) {
		report_add(t, VERDICT_FAIL, "federated token",
		    "check AZURE_FEDERATED_TOKEN_FILE and the projected service-account token (or "
		    "CI OIDC token) it names",
		    "%s", fc->why);
		return;
	}
	report_add(t, VERDICT_OK, "federated token", NULL,
	    "%s: issuer %s, subject %s, audience %s, expires %s (re-read for every login)",
	    cfg->federated_token_file, c->iss, c->sub, c->aud, c->exp);
	if (strcmp(c->aud, FEDERATED_AUDIENCE) != 0)
		report_add(t, VERDICT_WARN, "federated token",
		    "project the token with audience " FEDERATED_AUDIENCE ", or name this "
		    "audience in the federated identity credential",
		    "audience %s is not " FEDERATED_AUDIENCE, c->aud);
}
