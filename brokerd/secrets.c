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

#include "brokerd.h"
#include "jsonx.h"
#include "log.h"
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
	if (ipc_send(&b->secretd.chan, MSG_OP_TOKEN, 0, p, n) == -1)
		fatalx("cannot queue the 1Password token for secretd");
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

static bool
is_fingerprint(const char *s)
{
	return s != NULL && strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16;
}

static void
secrets_info(struct broker *b, const struct ipc_msg *m)
{
	struct json_object *o = ipc_msg_json(m);
	const char *fp = o ? jx_get_str(o, "fingerprint") : NULL;
	const char *provider = o ? jx_get_str(o, "provider") : NULL;

	if (!is_fingerprint(fp) || provider == NULL ||
	    strlen(provider) >= sizeof(b->secret_provider))
		fatalx("malformed SECRET_INFO from secretd");
	memcpy(b->secret_fingerprint, fp, sizeof(b->secret_fingerprint));
	snprintf(b->secret_provider, sizeof(b->secret_provider), "%s", provider);
	/* What an operator greps for to confirm that a rotation took effect. */
	log_info("secret fingerprint %s (provider %s)", b->secret_fingerprint, b->secret_provider);
	json_object_put(o);
}

void
secrets_dispatch(struct broker *b, const struct ipc_msg *m)
{
	switch (m->hdr.type) {
	case MSG_SECRET_INFO:
		secrets_info(b, m);
		break;
	case MSG_SECRET_ERR:
		log_warnx("secretd refused request %llu from brokerd",
		    (unsigned long long)m->hdr.id);
		break;
	default:
		log_debug("%s from secretd", ipc_type_name(m->hdr.type));
		break;
	}
}
