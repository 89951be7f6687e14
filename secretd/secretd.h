/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* secretd: the only process that holds a long-lived credential.  It resolves
 * the one secret reference fixed in its configuration and hands the result
 * only to tokend, over the channel brokerd cannot reach. */
#ifndef SECRETD_H
#define SECRETD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "config.h"
#include "errors.h"
#include "guard.h"
#include "log.h"
#include "msg.h"

struct secret_error {
	enum err_code code;
	/* Goes to tokend and on to the MCP client: no path, no stderr, no
	 * secret.  Details for the operator go to secretd's log instead. */
	char message[256];
};

/* ---- provider.c: the configured provider ------------------------------- */

struct launcher;

struct provider {
	enum secret_provider kind;
	const char *ref;	  /* the one reference, from the configuration */
	/* certificate: the key's passphrase, resolved alongside ref; or NULL */
	const char *passphrase_ref;
	long timeout_s;		  /* for op and the command helper */
	char helper[4096];	  /* op or the command helper, absolute */
	char **helper_env;	  /* "NAME=value" passed through to the helper */
	size_t n_helper_env;
	struct guarded op_token;  /* 1password: no-access between uses */
	bool have_op_token;
	struct guarded env_secret; /* env: taken out of our environment at start */
	bool have_env_secret;
	struct guarded env_passphrase; /* env: the passphrase, taken the same way */
	bool have_env_passphrase;
	char *cred_dir;		  /* $CREDENTIALS_DIRECTORY, when set */
	struct launcher *launcher; /* runs the helper; NULL: run it ourselves (tests) */
};

/* Sets the provider up from the configuration and our environment (taking
 * the env provider's variable out of it); -1 with err if it cannot work. */
int provider_init(struct provider *p, const struct config *cfg, struct secret_error *err);
/* 1password: the token brokerd sent (n may be 0).  The systemd credential
 * op-service-account-token, when it exists, takes precedence. */
void provider_set_op_token(struct provider *p, const unsigned char *token, size_t n);
/* Resolves the configured reference into out (guarded, no-access).  known
 * is the secret resolved before, if any: it is redacted from what a helper
 * prints on stderr, like the new one. */
int provider_resolve(struct provider *p, const struct guarded *known, struct guarded *out,
    struct secret_error *err);
/* The same for the certificate's passphrase reference (set: -1 otherwise).
 * The caller wipes it (guard_free) as soon as the key is decrypted. */
int provider_resolve_passphrase(struct provider *p, const struct guarded *known,
    struct guarded *out, struct secret_error *err);
void provider_free(struct provider *p);

/* ---- file.c: secret files --------------------------------------------- */

/* Reads a secret file: ref absolute, or a credential name under cred_dir.
 * Refuses, as ssh refuses a private key, a file that others can read or
 * that belongs to another user (file_refusal).  One trailing newline is
 * dropped.  Details are logged; err is for the client. */
int file_read_secret(const char *ref, const char *cred_dir, struct guarded *out,
    struct secret_error *err);
/* Why a file with this status (and POSIX ACL, acl_len 0 when it has none)
 * may not hold a secret for uid, or NULL when it may.  A credential is a
 * file in $CREDENTIALS_DIRECTORY: there root may own it (systemd does). */
const char *file_refusal(const struct stat *st, const void *acl, size_t acl_len, uid_t uid,
    bool credential, char *why, size_t len);

/* ---- helper.c: running op or a command helper ------------------------- */

/* 64 KiB is far beyond any client secret and bounds what a runaway helper
 * can make us hold in locked memory. */
#define HELPER_OUT_MAX (64u * 1024u)
/* Enough for any error op prints; more is drained and dropped. */
#define HELPER_ERR_MAX 4096u

enum helper_status {
	HELPER_EXITED,	    /* ran to completion: see wstatus */
	HELPER_TIMEOUT,	    /* killed, with its process group, at the deadline */
	HELPER_TOO_MUCH,    /* printed more than HELPER_OUT_MAX: killed */
	HELPER_NOT_STARTED, /* fork or pipe failed */
};

struct helper_result {
	enum helper_status status;
	int wstatus;
	struct guarded out;		/* stdout: never logged */
	char err[HELPER_ERR_MAX + 1];	/* stderr, NUL-terminated: redact before logging */
	size_t err_len;
};

/* Makes secretd a child subreaper, so that what a helper starts outside
 * its process group (setsid) comes back to secretd, which kills it after
 * the run.  Called once, before the sandbox, when helpers are used. */
void helper_become_subreaper(void);
/* Runs path with argv and exactly envp: stdin /dev/null, stdout and stderr
 * captured, in its own process group, killed with that whole group after
 * timeout_s seconds.  Clear r with helper_result_clear. */
void helper_run(const char *path, char *const argv[], char *const envp[], long timeout_s,
    struct helper_result *r);
void helper_result_clear(struct helper_result *r);

/* ---- launcher.c: the process that starts helpers -------------------------- */

struct launcher {
	pid_t pid;
	int fd; /* -1 when stopped */
};

/* Forks the launcher (before the 1Password token arrives and before the
 * sandbox): it takes the helper denylist and runs helpers on request. */
void launcher_start(struct launcher *l, enum log_level level);
/* helper_run, done by the launcher.  A launcher that is gone, or does not
 * answer by the helper's timeout plus 5 s, is fatal: secretd exits,
 * brokerd fails the calls and exits 70. */
void launcher_run(struct launcher *l, const char *path, char *const argv[], char *const envp[],
    long timeout_s, struct helper_result *r);
/* Ends it: closes the channel and reaps it. */
void launcher_stop(struct launcher *l);

/* ---- opmap.c: what op's stderr means --------------------------------- */

/* The error code for a failed op (or helper) from what it printed on
 * stderr, and a message for the client. */
enum err_code opmap_classify(const char *text, size_t len, const char **message);

struct redact_secret {
	const unsigned char *p;
	size_t len;
};
/* Copies in into out (NUL-terminated, at most outlen - 1 bytes) with every
 * occurrence of each known secret, and every run that looks like a token or
 * a key, replaced by "[REDACTED]"; line breaks become spaces. */
void opmap_redact(const char *in, size_t len, const struct redact_secret *known, size_t n_known,
    char *out, size_t outlen);

/* ---- cache.c: the resolved secret ------------------------------------- */

/* tokend says the login endpoint rejected the secret: secretd resolves it
 * again at once (the secret may just have been rotated), but not more often
 * than this for such reports.  A secret that stays rejected must not turn
 * every login attempt into a 1Password request: service accounts are
 * rate-limited per hour. */
#define SECRET_REFRESH_MIN_MS 30000

struct secret_cache {
	struct guarded secret; /* no-access between uses */
	bool valid;
	int64_t resolved_ms;
	bool refreshed;		/* resolved at tokend's report at least once */
	int64_t refreshed_ms;	/* when that last happened */
	long ttl_s;		/* 0: resolve on every request */
	char fingerprint[17];	/* of the cached secret */
	char reported[17];	/* the last one told to brokerd */
	int64_t (*now_ms)(void); /* a monotonic clock; injectable for tests */
};

void secret_cache_init(struct secret_cache *c, long ttl_s, int64_t (*now_ms)(void));
/* Whether a request must resolve the secret anew; refresh: tokend reports
 * that the login endpoint rejected the secret it was given.  A refresh is
 * honoured unless one was within SECRET_REFRESH_MIN_MS. */
bool secret_cache_needs_resolve(const struct secret_cache *c, bool refresh);
/* Records that a refresh is being honoured (whether or not it succeeds). */
void secret_cache_note_refresh(struct secret_cache *c);
/* Takes ownership of g (guarded) as the current secret. */
void secret_cache_store(struct secret_cache *c, struct guarded *g);
/* True, once, when the cached secret's fingerprint differs from the last one
 * reported (or none was): brokerd should be told. */
bool secret_cache_take_news(struct secret_cache *c);
void secret_cache_free(struct secret_cache *c);

/* The fingerprint key: the 30 bytes "mcp-auth-broker fingerprint v1"
 * followed by two zero bytes (crypto_generichash_KEYBYTES, 32). */
#define FINGERPRINT_KEY_TEXT "mcp-auth-broker fingerprint v1"
/* Keyed BLAKE2b-256 of the secret, first 8 bytes as 16 lower-case hex
 * digits.  The key is fixed and published so that the same secret gives the
 * same fingerprint on every host and across restarts; it separates this use
 * from any other hash of the secret.  64 bits of a hash reveal nothing
 * useful about a random client secret, which is what Entra ID issues. */
void secret_fingerprint(const unsigned char *p, size_t n, char out[17]);

/* ---- assertion.c: the certificate credential --------------------------- */

/* Entra ID accepts assertions valid for at most 10 minutes. */
#define ASSERTION_LIFETIME_S 600
/* PS256's salt: as long as the SHA-256 hash (RFC 7518 section 3.5). */
#define ASSERTION_PSS_SALT_LEN 32

struct evp_pkey_st;
struct x509_st;

struct cert_key {
	struct evp_pkey_st *key; /* its numbers in OpenSSL's secure heap */
	struct x509_st *cert;
	char x5t[32];		 /* base64url SHA-1 thumbprint */
	char x5t_s256[48];	 /* base64url SHA-256 thumbprint */
	struct msg_cert_info info; /* subject, hex thumbprints, expiry */
};

/* Before the seccomp filter, with a certificate credential: no OpenSSL
 * configuration file, the secure heap, the DRBG seeded. */
void assertion_crypto_init(void);
/* Parses the resolved PEM (guarded): an RSA key of 2048 bits or more and
 * the certificate it belongs to.  pass (guarded), when not NULL, decrypts
 * an encrypted key; an encrypted key without it, or with a wrong one, is an
 * error.  -1 with err (naming the credential kind and what to check)
 * otherwise. */
int cert_key_load(struct cert_key *ck, const struct guarded *pem, const struct guarded *pass,
    struct secret_error *err);
void cert_key_free(struct cert_key *ck);
/* A compact JWS (alg RS256 or PS256, from secretd's own configuration;
 * header x5t#S256, x5t; claims aud, iss = sub = client_id, random jti,
 * nbf = iat = now, exp = now + ASSERTION_LIFETIME_S) into out
 * (NUL-terminated).  Out too small is fatal. */
int assertion_sign(const struct cert_key *ck, enum assertion_alg alg, const char *aud,
    const char *client_id, int64_t now, char *out, size_t cap, struct secret_error *err);

/* ---- federated.c: the federated credential ----------------------------- */

/* What --check shows of a federated token: never the token. */
struct federated_info {
	char iss[256];
	char sub[256];
	char aud[256]; /* the first, when it is an array */
	int64_t exp;
};

/* Checks that jwt[0..len) is a compact JWS (three non-empty base64url
 * parts) whose header and payload are JSON objects, the payload with an
 * integer exp; fills info.  Returns 0, -1 when it is not such a JWT, -2
 * when it is one that expired at or before now; *why says which. */
int federated_parse(const char *jwt, size_t len, int64_t now, struct federated_info *info,
    const char **why);
/* Reads the token file afresh (following symlinks: the kubelet's
 * `token -> ..data/token`), refusing anything but a regular file owned by
 * root or by us and writable by its owner only, and checks it with
 * federated_parse.  out (cap bytes, at least MSG_ASSERTION_MAX + 2) gets
 * the token, NUL-terminated, its length in *outlen.  -1 with err (a
 * secret.* code, a message naming the federated credential) otherwise;
 * out is wiped then. */
int federated_read(const char *path, int64_t now, char *out, size_t cap, size_t *outlen,
    struct federated_info *info, struct secret_error *err);

#endif
