/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* secretd: resolves the configured Graph client secret and serves it to
 * tokend alone.  brokerd may ask for status, never for a secret.
 *
 * Channels: brokerd on descriptor 3 (OP_TOKEN once, first; SECRET_INFO and
 * CERT_INFO out), tokend on descriptor 4 (SECRET_REQ in, SECRET_ANS or
 * SECRET_ERR out; with a certificate or federated credential ASSERTION_REQ
 * in, ASSERTION_ANS or SECRET_ERR out: the key only signs, it is never
 * served; the federated token is read from its file for each request).  A request for a secret from brokerd, or for anything
 * but the configured reference from tokend, is refused and logged: either
 * means that process is no longer what it should be. */
#include "buildconf.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "guard.h"
#include "ipc.h"
#include "jsonx.h"
#include "log.h"
#include "msg.h"
#include "proc.h"
#include "sandbox.h"
#include "secretd.h"
#include "timeutil.h"

/* brokerd sends the 1Password token right after it starts us; waiting longer
 * than this means it is not going to. */
#define OP_TOKEN_WAIT_MS 10000
/* A 1Password service-account token is well under 2 KiB. */
#define OP_TOKEN_MAX 16384

struct secretd {
	struct config cfg;
	struct ipc_chan broker; /* fd 3 */
	struct ipc_chan tokend; /* fd 4 */
	struct provider provider;
	struct secret_cache cache;
	struct launcher launcher; /* 1password, command: runs the helper */
	bool certificate;	  /* the credential is a certificate: sign, never serve */
	bool assertion;		  /* certificate or federated: ASSERTION_REQ only */
	struct cert_key cert;	  /* loaded from the cached PEM when certificate */
	char token_url[1024];	  /* the assertions' aud, from our own configuration */
};

/* brokerd sends OP_TOKEN once, first, and nothing after it.  SECRET_REQ and
 * a late OP_TOKEN are accepted from it only so that they can be refused and
 * logged: a compromised brokerd asking for the secret, or trying to swap the
 * 1Password account, is worth an alarm.  Any other type is fatal. */
static const uint32_t from_broker[] = { MSG_SECRET_REQ, MSG_OP_TOKEN };
static const uint32_t from_tokend[] = { MSG_SECRET_REQ, MSG_ASSERTION_REQ };

static void
secretd_send_error(struct ipc_chan *c, uint64_t id, enum err_code code, const char *msg)
{
	msg_secret_err_send(c, id, code, msg);
}

/* brokerd learns which secret is current, never the secret. */
static void
secretd_send_info(struct secretd *sd)
{
	msg_secret_info_send(&sd->broker, sd->cache.fingerprint,
	    config_provider_name(sd->cfg.secret_provider));
}

/* The key from the resolved PEM g.  With a passphrase reference the
 * passphrase is resolved now, with the PEM, on the same schedule (a
 * rotation changes both together), and wiped once the key is decrypted:
 * only the decrypted key, in OpenSSL's secure heap, is kept. */
static int
secretd_key_from_pem(struct provider *p, const struct guarded *g, struct cert_key *ck,
    struct secret_error *err)
{
	struct guarded pass = { NULL, 0 };
	int rc;

	if (p->passphrase_ref != NULL && provider_resolve_passphrase(p, g, &pass, err) == -1)
		return -1;
	rc = cert_key_load(ck, g, p->passphrase_ref != NULL ? &pass : NULL, err);
	guard_free(&pass); /* wipes */
	return rc;
}

/* A certificate credential's PEM is parsed before it is cached: a PEM
 * without a usable key never replaces the key in use. */
static int
secretd_load_certificate(struct secretd *sd, const struct guarded *g, struct secret_error *err)
{
	struct cert_key ck;

	if (secretd_key_from_pem(&sd->provider, g, &ck, err) == -1)
		return -1;
	cert_key_free(&sd->cert);
	sd->cert = ck;
	if (sd->cert.info.not_after_unix < (int64_t)time(NULL))
		log_warnx("certificate credential: the certificate (SHA-1 %s) expired on %s",
		    sd->cert.info.sha1, sd->cert.info.not_after);
	return 0;
}

static int
secretd_resolve(struct secretd *sd, uint64_t id)
{
	struct guarded g = { NULL, 0 };
	struct secret_error err = { ERR_NONE, "" };

	if (provider_resolve(&sd->provider, &sd->cache.secret, &g, &err) == -1 ||
	    (sd->certificate && secretd_load_certificate(sd, &g, &err) == -1)) {
		guard_free(&g);
		log_warnx("secret request %llu: %s: %s", (unsigned long long)id, err_name(err.code),
		    err.message);
		secretd_send_error(&sd->tokend, id, err.code, err.message);
		return -1;
	}
	secret_cache_store(&sd->cache, &g);
	log_debug("secret resolved (fingerprint %s)", sd->cache.fingerprint);
	/* Queued before the answer to tokend, and brokerd's channel is flushed
	 * first: brokerd knows the fingerprint before the call it serves ends. */
	if (secret_cache_take_news(&sd->cache)) {
		secretd_send_info(sd);
		if (sd->certificate)
			msg_cert_info_send(&sd->broker, &sd->cert.info);
	}
	return 0;
}

/* Resolves again when the cache says so; -1 when that failed (answered). */
static int
secretd_fresh_enough(struct secretd *sd, uint64_t id, bool refresh)
{
	bool stale = secret_cache_needs_resolve(&sd->cache, false);
	bool early = !stale && refresh && secret_cache_needs_resolve(&sd->cache, true);

	/* Only a refresh that is the reason to resolve counts against its
	 * 30 s floor; a failed attempt counts too. */
	if (early)
		secret_cache_note_refresh(&sd->cache);
	if ((stale || early) && secretd_resolve(sd, id) == -1)
		return -1;
	return 0;
}

static void
secretd_answer_secret(struct secretd *sd, uint64_t id, bool refresh)
{
	const unsigned char *p;

	if (secretd_fresh_enough(sd, id, refresh) == -1)
		return;
	p = guard_open(&sd->cache.secret);
	msg_secret_ans_send(&sd->tokend, id, p, sd->cache.secret.len);
	guard_close(&sd->cache.secret);
	log_debug("secret request %llu answered%s", (unsigned long long)id,
	    refresh ? " (refresh asked)" : "");
}

/* The key is re-read on the secret cache's schedule and when tokend
 * reports a rejected login, as a client secret is; then a fresh assertion
 * is signed for each request (its jti must not repeat). */
static void
secretd_answer_assertion(struct secretd *sd, uint64_t id, bool refresh)
{
	struct secret_error err = { ERR_NONE, "" };
	char jwt[MSG_ASSERTION_MAX];

	if (secretd_fresh_enough(sd, id, refresh) == -1)
		return;
	/* The algorithm is ours to choose, from our own configuration: the
	 * request names none. */
	if (assertion_sign(&sd->cert, sd->cfg.assertion_alg, sd->token_url, sd->cfg.client_id,
		(int64_t)time(NULL), jwt, sizeof(jwt), &err) == -1) {
		secretd_send_error(&sd->tokend, id, err.code, err.message);
		return;
	}
	msg_assertion_ans_send(&sd->tokend, id, jwt, strlen(jwt));
	sodium_memzero(jwt, sizeof(jwt));
	log_debug("assertion request %llu answered%s", (unsigned long long)id,
	    refresh ? " (refresh asked)" : "");
}

/* The federated credential: the token file as it is now, checked, for
 * every request (the kubelet rotates it; a refresh changes nothing then). */
static void
secretd_answer_federated(struct secretd *sd, uint64_t id)
{
	struct secret_error err = { ERR_NONE, "" };
	struct federated_info info;
	char jwt[MSG_ASSERTION_MAX + 2];
	size_t len = 0;

	if (federated_read(sd->cfg.federated_token_file, (int64_t)time(NULL), jwt, sizeof(jwt),
		&len, &info, &err) == -1) {
		secretd_send_error(&sd->tokend, id, err.code, err.message);
		return;
	}
	msg_assertion_ans_send(&sd->tokend, id, jwt, len);
	sodium_memzero(jwt, sizeof(jwt));
	log_debug("assertion request %llu answered with the federated token (iss %s, sub %s, "
		  "exp %lld)",
	    (unsigned long long)id, info.iss, info.sub, (long long)info.exp);
}

/* Each credential has its one request: a client secret is served, a
 * certificate's key only signs, a federated token goes out only as the
 * client assertion.  The other request is refused, and said so: tokend
 * asking for the key itself is not what it should be. */
static bool
secretd_request_fits(struct secretd *sd, const struct ipc_msg *m)
{
	bool assertion = m->hdr.type == MSG_ASSERTION_REQ;

	if (assertion == sd->assertion)
		return true;
	log_warnx("refused %s %llu from tokend: the credential is a %s",
	    ipc_type_name(m->hdr.type), (unsigned long long)m->hdr.id,
	    config_credential_name(sd->cfg.graph_credential));
	secretd_send_error(&sd->tokend, m->hdr.id, ERR_SECRET_ACCESS_DENIED,
	    sd->certificate ? "the credential is a certificate: its key is never served"
	    : sd->assertion ? "the credential is federated: its token goes out only as a client "
			      "assertion"
			    : "the credential is a client secret: there is no certificate to sign with");
	return false;
}

static void
secretd_dispatch_tokend(struct secretd *sd, const struct ipc_msg *m)
{
	const char *why = NULL;
	bool refresh;
	/* Anything but an empty payload or {"refresh":bool} would name something
	 * other than the configured reference: refused, and said so. */
	int rc = m->hdr.type == MSG_ASSERTION_REQ ? msg_assertion_req_decode(m, &refresh, &why)
						  : msg_secret_req_decode(m, &refresh, &why);

	if (rc == -1)
		fatalx("malformed %s %llu from tokend: %s", ipc_type_name(m->hdr.type),
		    (unsigned long long)m->hdr.id, why);
	if (rc == -2) {
		log_warnx("refused secret request %llu from tokend (%s): only the configured "
			  "reference is ever resolved",
		    (unsigned long long)m->hdr.id, why);
		secretd_send_error(&sd->tokend, m->hdr.id, ERR_SECRET_ACCESS_DENIED,
		    "only the configured secret reference is served");
		return;
	}
	if (!secretd_request_fits(sd, m))
		return;
	if (sd->cfg.graph_credential == GRAPH_CREDENTIAL_FEDERATED)
		secretd_answer_federated(sd, m->hdr.id);
	else if (sd->certificate)
		secretd_answer_assertion(sd, m->hdr.id, refresh);
	else
		secretd_answer_secret(sd, m->hdr.id, refresh);
}

static void
secretd_dispatch_broker(struct secretd *sd, const struct ipc_msg *m)
{
	switch (m->hdr.type) {
	case MSG_SECRET_REQ:
		log_warnx("refused a secret request from brokerd: secrets go to tokend only");
		secretd_send_error(&sd->broker, m->hdr.id, ERR_SECRET_ACCESS_DENIED,
		    "secrets are served to tokend only");
		break;
	case MSG_OP_TOKEN:
		/* The payload is wiped with the channel buffer by ipc_done. */
		log_warnx("refused a 1Password token from brokerd: it is accepted once, as the "
			  "first message");
		break;
	}
}

/* Reads and dispatches everything available on one channel; returns 0 at
 * end of file. */
static int
secretd_service(struct secretd *sd, struct ipc_chan *c,
    void (*dispatch)(struct secretd *, const struct ipc_msg *))
{
	struct ipc_msg m;
	ssize_t n = ipc_read(c);

	if (n == -1)
		fatal("read from %s", c->peer);
	while (ipc_next_checked(c, &m) == IPC_OK) {
		dispatch(sd, &m);
		ipc_done(c, &m);
	}
	return !c->eof;
}

static void
secretd_loop(struct secretd *sd)
{
	for (;;) {
		struct pollfd pfd[3] = {
			{ sd->broker.fd, POLLIN | (ipc_pending_out(&sd->broker) ? POLLOUT : 0), 0 },
			{ sd->tokend.fd, POLLIN | (ipc_pending_out(&sd->tokend) ? POLLOUT : 0), 0 },
			/* Between runs the launcher says nothing: a hang-up is its death. */
			{ sd->launcher.fd, 0, 0 },
		};
		if (sd->tokend.eof)
			pfd[1].fd = -1;
		if (poll(pfd, 3, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if (pfd[2].revents & (POLLHUP | POLLERR))
			fatalx("the launcher died");
		if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    !secretd_service(sd, &sd->broker, secretd_dispatch_broker))
			return; /* brokerd closed its end: orderly shutdown */
		if ((pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    !secretd_service(sd, &sd->tokend, secretd_dispatch_tokend))
			log_warnx("tokend closed its channel");
		if (ipc_flush(&sd->broker) == -1)
			fatal("write to brokerd");
		if (!sd->tokend.eof && ipc_flush(&sd->tokend) == -1)
			log_warn("write to tokend");
	}
}

/* The 1Password token is brokerd's first message, before tokend can ask for
 * anything; secretd serves no one until it has it. */
static void
secretd_await_op_token(struct secretd *sd)
{
	int64_t deadline = mono_ms() + OP_TOKEN_WAIT_MS;
	const char *why = NULL;
	struct ipc_msg m;

	while (ipc_next_checked(&sd->broker, &m) != IPC_OK) {
		struct pollfd pfd = { sd->broker.fd, POLLIN, 0 };
		if (sd->broker.eof)
			fatalx("brokerd closed the channel before sending the 1Password token");
		if (poll(&pfd, 1, poll_timeout_ms(deadline)) == 0)
			fatalx("no 1Password token from brokerd within %d s", OP_TOKEN_WAIT_MS / 1000);
		if (ipc_read(&sd->broker) == -1)
			fatal("read from brokerd");
	}
	if (m.hdr.type != MSG_OP_TOKEN)
		fatalx("brokerd's first message is %s, not OP_TOKEN", ipc_type_name(m.hdr.type));
	if (msg_op_token_decode(&m, &why) == -1)
		fatalx("malformed OP_TOKEN from brokerd: %s", why);
	provider_set_op_token(&sd->provider, m.data, m.hdr.len);
	ipc_done(&sd->broker, &m); /* wipes the token from the channel buffer */
	/* Whatever came with it would otherwise wait for brokerd's next write. */
	while (ipc_next_checked(&sd->broker, &m) == IPC_OK) {
		secretd_dispatch_broker(sd, &m);
		ipc_done(&sd->broker, &m);
	}
}

static void
secretd_start(struct secretd *sd)
{
	struct secret_error err = { ERR_NONE, "" };

	memset(sd, 0, sizeof(*sd));
	config_load_or_exit(&sd->cfg);
	log_set_level(sd->cfg.log_level);
	if (provider_init(&sd->provider, &sd->cfg, &err) == -1) {
		log_error("%s: %s", config_provider_name(sd->cfg.secret_provider), err.message);
		exit(EX_CONFIG_STATUS);
	}
	secret_cache_init(&sd->cache, sd->cfg.secret_cache_s, mono_ms);
	/* config.c makes smoke mode's credential a secret. */
	sd->certificate = sd->cfg.graph_credential == GRAPH_CREDENTIAL_CERTIFICATE;
	sd->assertion = config_credential_is_assertion(sd->cfg.graph_credential);
	if (sd->certificate) {
		snprintf(sd->token_url, sizeof(sd->token_url), "%s/%s/oauth2/v2.0/token",
		    sd->cfg.authority, sd->cfg.tenant_id);
		assertion_crypto_init();
	}
	ipc_chan_init(&sd->broker, IPC_FD_PARENT, "brokerd", from_broker,
	    sizeof(from_broker) / sizeof(from_broker[0]));
	ipc_chan_init(&sd->tokend, IPC_FD_PEER, "tokend", from_tokend,
	    sizeof(from_tokend) / sizeof(from_tokend[0]));
	if (proc_set_nonblock(IPC_FD_PARENT) == -1 || proc_set_nonblock(IPC_FD_PEER) == -1)
		fatal("fcntl(O_NONBLOCK)");
	/* Helpers are started by the launcher, forked now: before the token
	 * arrives, before the filter, holding neither channel. */
	sd->launcher.fd = -1;
	if (sd->cfg.secret_provider == SECRET_PROVIDER_1PASSWORD ||
	    sd->cfg.secret_provider == SECRET_PROVIDER_COMMAND) {
		launcher_start(&sd->launcher, sd->cfg.log_level);
		sd->provider.launcher = &sd->launcher;
	}
	if (sd->cfg.secret_provider == SECRET_PROVIDER_1PASSWORD)
		secretd_await_op_token(sd);
}

/* The 1Password token for a one-shot run: what brokerd --check writes on
 * our stdin (nothing when secretd reads the systemd credential itself). */
static void
secretd_describe_op_token(struct provider *p)
{
	unsigned char *buf = sodium_malloc(OP_TOKEN_MAX + 1);
	size_t n = 0;
	ssize_t r;

	if (buf == NULL)
		fatalx("out of guarded memory");
	while (n <= OP_TOKEN_MAX && (r = read(STDIN_FILENO, buf + n, OP_TOKEN_MAX + 1 - n)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			break;
		n += (size_t)r;
	}
	provider_set_op_token(p, buf, n > OP_TOKEN_MAX ? 0 : n);
	sodium_free(buf);
}

/* secretd --describe-certificate, run by brokerd --check: resolves the
 * certificate credential's PEM with the configured provider, as a running
 * secretd would, and prints its public facts on stdout, one name=value line
 * each, or error=<code>: <message>.  Never the key.  One shot: no channel,
 * no launcher (the helper is run directly), no filter. */
static int
secretd_describe_certificate(void)
{
	struct secret_error err = { ERR_NONE, "" };
	struct guarded g = { NULL, 0 }, none = { NULL, 0 };
	struct provider p;
	struct cert_key ck;
	struct config cfg;
	int rc = 1;

	config_load_or_exit(&cfg);
	log_set_level(cfg.log_level);
	if (cfg.graph_credential != GRAPH_CREDENTIAL_CERTIFICATE || cfg.env == BROKER_ENV_SMOKE) {
		printf("error=the credential is not a certificate\n");
		config_free(&cfg);
		return 1;
	}
	assertion_crypto_init();
	if (provider_init(&p, &cfg, &err) == 0) {
		if (cfg.secret_provider == SECRET_PROVIDER_1PASSWORD)
			secretd_describe_op_token(&p);
		if (provider_resolve(&p, &none, &g, &err) == 0 &&
		    secretd_key_from_pem(&p, &g, &ck, &err) == 0) {
			printf("subject=%s\nsha256=%s\nsha1=%s\nnot_after=%s\nnot_after_unix=%lld\n",
			    ck.info.subject, ck.info.sha256, ck.info.sha1, ck.info.not_after,
			    (long long)ck.info.not_after_unix);
			cert_key_free(&ck);
			rc = 0;
		}
		provider_free(&p);
	}
	if (rc != 0)
		printf("error=%s: %s\n", err_name(err.code), err.message);
	guard_free(&g);
	config_free(&cfg);
	return rc;
}

/* secretd --describe-federated, run by brokerd --check and --ready: reads
 * the federated token file as a running secretd would and prints its public
 * claims (iss, sub, aud, exp) on stdout, one name=value line each, or
 * error=<code>: <message>.  Never the token. */
static int
secretd_describe_federated(void)
{
	struct secret_error err = { ERR_NONE, "" };
	struct federated_info info;
	struct config cfg;
	char jwt[MSG_ASSERTION_MAX + 2], when[32];
	size_t len = 0;
	int rc = 1;

	config_load_or_exit(&cfg);
	log_set_level(cfg.log_level);
	if (cfg.graph_credential != GRAPH_CREDENTIAL_FEDERATED || cfg.env == BROKER_ENV_SMOKE) {
		printf("error=the credential is not federated\n");
	} else if (federated_read(cfg.federated_token_file, (int64_t)time(NULL), jwt, sizeof(jwt),
		       &len, &info, &err) == 0) {
		time_t t = (time_t)info.exp;
		struct tm tm;
		sodium_memzero(jwt, sizeof(jwt));
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
		printf("iss=%s\nsub=%s\naud=%s\nexp=%s\nexp_unix=%lld\n", info.iss, info.sub,
		    info.aud, when, (long long)info.exp);
		rc = 0;
	} else {
		printf("error=%s: %s\n", err_name(err.code), err.message);
	}
	config_free(&cfg);
	return rc;
}

int
main(int argc, char **argv)
{
	struct secretd sd;

	log_init("secretd", LOG_LEVEL_INFO);
	if (argc == 2 && strcmp(argv[1], "--describe-certificate") == 0) {
		/* Hardened as ever, but without channels: it answers on stdout. */
		proc_harden("secretd");
		if (sodium_init() < 0)
			fatalx("sodium_init failed");
		return secretd_describe_certificate();
	}
	if (argc == 2 && strcmp(argv[1], "--describe-federated") == 0) {
		proc_harden("secretd");
		if (sodium_init() < 0)
			fatalx("sodium_init failed");
		return secretd_describe_federated();
	}
	proc_child_init("secretd");
	if (sodium_init() < 0)
		fatalx("sodium_init failed");
	if (argc != 1)
		fatalx("usage: secretd (started by brokerd), or secretd --describe-certificate "
		       "or --describe-federated");
	secretd_start(&sd);
	/* From here secretd only answers on its channels, reads the secret and
	 * asks the launcher: no network, no process, no execve. */
	sandbox_enter(SANDBOX_SECRETD);
	log_debug("ready: provider %s", config_provider_name(sd.cfg.secret_provider));
	secretd_loop(&sd);
	launcher_stop(&sd.launcher);
	secret_cache_free(&sd.cache);
	cert_key_free(&sd.cert);
	provider_free(&sd.provider);
	ipc_chan_free(&sd.broker);
	ipc_chan_free(&sd.tokend);
	config_free(&sd.cfg);
	return 0;
}
