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
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "brokerd.h"
#include "jsonx.h"
#include "log.h"
#include "msg.h"
#include "secretenv.h"

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
	if (real && b->cfg.secret_provider == SECRET_PROVIDER_ENV)
		secretenv_take(b->cfg.secret_ref, NULL);
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
secrets_cert_line(const struct broker *b, int64_t now, char *out, size_t len)
{
	const struct msg_cert_info *c = &b->cert;
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
	if (secrets_cert_line(b, (int64_t)time(NULL), line, sizeof(line)))
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
