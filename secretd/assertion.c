/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The certificate credential: secretd loads the private key and its
 * certificate from the PEM the provider resolved, and signs client
 * assertions (RFC 7523 JWTs, RS256 or PS256) for tokend.  The key never
 * leaves this process: tokend gets a signed assertion that expires within
 * minutes.
 *
 * An encrypted key (PKCS#8, BEGIN ENCRYPTED PRIVATE KEY) is decrypted with
 * the passphrase the provider resolved from the second reference: OpenSSL's
 * passphrase callback copies it from guarded memory into OpenSSL's own
 * buffer, which OpenSSL cleanses after use; the caller wipes the guarded
 * copy as soon as the key is loaded.
 *
 * Memory: the PEM stays in the secret cache's guarded memory, parsed
 * straight from there (a read-only memory BIO copies nothing).  OpenSSL's
 * secure heap is set up before the first key is parsed, so the private
 * key's numbers, which OpenSSL allocates with BN_secure_new, live in
 * mlocked, guard-paged memory that is wiped on free, not in the ordinary
 * heap.  No hand-written cryptography: libcrypto parses, hashes and signs;
 * libsodium only encodes base64url and draws the jti. */
#include "buildconf.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "jsonx.h"
#include "log.h"
#include "secretd.h"

/* Two keys at once (the old one until a rotated one has loaded) with room
 * to spare: an RSA-4096 key's numbers take about 2.5 KiB. */
#define SECURE_HEAP_BYTES (64 * 1024)
#define SECURE_HEAP_MIN 32
#define RSA_MIN_BITS 2048

static int
cert_fail(struct secret_error *err, enum err_code code, const char *msg)
{
	unsigned long e;
	char text[256];

	/* The first OpenSSL reason goes to the log only: it may quote the file. */
	if ((e = ERR_peek_error()) != 0) {
		ERR_error_string_n(e, text, sizeof(text));
		log_warnx("certificate credential: %s (%s)", msg, text);
	} else {
		log_warnx("certificate credential: %s", msg);
	}
	ERR_clear_error();
	err->code = code;
	snprintf(err->message, sizeof(err->message), "certificate credential: %s", msg);
	return -1;
}

void
assertion_crypto_init(void)
{
	unsigned char warm[16];

	/* No configuration file is read (none is needed, and after the filter
	 * an open of openssl.cnf would only be noise). */
	if (OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) != 1)
		fatalx("OPENSSL_init_crypto failed");
	if (CRYPTO_secure_malloc_init(SECURE_HEAP_BYTES, SECURE_HEAP_MIN) == 0)
		fatalx("OpenSSL's secure heap cannot be set up: the private key would live in "
		       "ordinary memory");
	/* Seeds the DRBG and loads the algorithms now, before the seccomp
	 * filter, rather than at the first signature. */
	if (RAND_bytes(warm, sizeof(warm)) != 1)
		fatalx("OpenSSL's random generator cannot be seeded");
	EVP_MD_free(EVP_MD_fetch(NULL, "SHA256", NULL));
	EVP_MD_free(EVP_MD_fetch(NULL, "SHA1", NULL));
	sodium_memzero(warm, sizeof(warm));
}

struct pass_ctx {
	const struct guarded *pass; /* NULL: no passphrase reference configured */
	bool asked;		    /* OpenSSL wanted one: the key is encrypted */
	bool too_long;		    /* longer than OpenSSL's buffer for it */
};

/* Never prompts (secretd has no terminal): the passphrase is the resolved
 * one or none.  OpenSSL asks for it only for an encrypted key. */
static int
pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pass_ctx *pc = u;
	int n;

	(void)rwflag;
	if (pc == NULL)
		return -1;
	pc->asked = true;
	if (pc->pass == NULL)
		return -1;
	if (pc->pass->len > (size_t)size) {
		pc->too_long = true;
		return -1;
	}
	n = (int)pc->pass->len;
	memcpy(buf, guard_open(pc->pass), (size_t)n);
	guard_close(pc->pass);
	return n;
}

/* The certificate is public: no callback may be asked for it. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static void
to_hex_upper(const unsigned char *p, size_t n, char *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static void
b64url(const unsigned char *p, size_t n, char *out, size_t outlen)
{
	sodium_bin2base64(out, outlen, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* Subject (RFC 2253), thumbprints and expiry: the certificate's public facts. */
static int
cert_describe(struct cert_key *ck)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	struct tm tm;
	BIO *b;
	int len;

	if (X509_digest(ck->cert, EVP_sha256(), md, &n) != 1 || n != 32)
		return -1;
	to_hex_upper(md, n, ck->info.sha256);
	b64url(md, n, ck->x5t_s256, sizeof(ck->x5t_s256));
	if (X509_digest(ck->cert, EVP_sha1(), md, &n) != 1 || n != 20)
		return -1;
	to_hex_upper(md, n, ck->info.sha1);
	b64url(md, n, ck->x5t, sizeof(ck->x5t));
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		fatalx("out of memory");
	X509_NAME_print_ex(b, X509_get_subject_name(ck->cert), 0, XN_FLAG_RFC2253);
	len = BIO_read(b, ck->info.subject, sizeof(ck->info.subject) - 1);
	ck->info.subject[len > 0 ? len : 0] = '\0';
	BIO_free(b);
	for (char *s = ck->info.subject; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = '?';
	if (ASN1_TIME_to_tm(X509_get0_notAfter(ck->cert), &tm) != 1)
		return -1;
	ck->info.not_after_unix = (int64_t)timegm(&tm);
	strftime(ck->info.not_after, sizeof(ck->info.not_after), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return 0;
}

/* The key: RSA of RSA_MIN_BITS or more, matching the certificate. */
static int
cert_check_key(struct cert_key *ck, struct secret_error *err)
{
	if (!EVP_PKEY_is_a(ck->key, "RSA"))
		return cert_fail(err, ERR_SECRET_NOT_FOUND,
		    "the private key is not an RSA key (RS256 and PS256 are RSA signatures)");
	if (EVP_PKEY_get_bits(ck->key) < RSA_MIN_BITS)
		return cert_fail(err, ERR_SECRET_NOT_FOUND,
		    "the RSA key is shorter than 2048 bits: make a new certificate");
	if (X509_check_private_key(ck->cert, ck->key) != 1)
		return cert_fail(err, ERR_SECRET_NOT_FOUND,
		    "the private key does not belong to the certificate in the same PEM");
	return 0;
}

/* Why no key came out of the PEM, for the operator: what to check. */
static void
cert_key_missing(const struct pass_ctx *pc, struct secret_error *err)
{
	if (pc->asked && pc->pass == NULL)
		cert_fail(err, ERR_SECRET_NOT_FOUND,
		    "the private key is encrypted: set MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF "
		    "to the reference of its passphrase");
	else if (pc->too_long)
		cert_fail(err, ERR_SECRET_NOT_FOUND,
		    "the passphrase MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF names is longer "
		    "than OpenSSL accepts: re-encrypt the key with a shorter one");
	else if (pc->asked)
		cert_fail(err, ERR_SECRET_ACCESS_DENIED,
		    "the passphrase MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF names does not "
		    "decrypt the private key: check that passphrase and the key in the PEM "
		    "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF names");
	else
		cert_fail(err, ERR_SECRET_NOT_FOUND,
		    "no unencrypted private key in the PEM MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF "
		    "names (it must hold the key and the certificate)");
}

int
cert_key_load(struct cert_key *ck, const struct guarded *pem, const struct guarded *pass,
    struct secret_error *err)
{
	size_t secure_before = CRYPTO_secure_used();
	const unsigned char *p = guard_open(pem);
	struct pass_ctx pc = { pass, false, false };
	BIO *b;
	int rc = -1;

	memset(ck, 0, sizeof(*ck));
	ERR_clear_error();
	if ((b = BIO_new_mem_buf(p, (int)pem->len)) == NULL)
		fatalx("out of memory");
	ck->key = PEM_read_bio_PrivateKey(b, NULL, pass_cb, &pc);
	BIO_free(b);
	if ((b = BIO_new_mem_buf(p, (int)pem->len)) == NULL)
		fatalx("out of memory");
	ck->cert = PEM_read_bio_X509(b, NULL, no_passphrase, NULL);
	BIO_free(b);
	guard_close(pem);
	if (ck->key == NULL)
		cert_key_missing(&pc, err);
	else if (ck->cert == NULL)
		cert_fail(err, ERR_SECRET_NOT_FOUND,
		    "no certificate in the PEM MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF names (it "
		    "must hold the key and the certificate)");
	else if (cert_check_key(ck, err) == 0 && cert_describe(ck) == 0)
		rc = 0;
	else if (err->code == ERR_NONE)
		cert_fail(err, ERR_SECRET_NOT_FOUND, "the certificate cannot be read");
	if (rc == -1) {
		cert_key_free(ck);
		return -1;
	}
	/* Used, yet nothing to decrypt: harmless, but not what was set up. */
	if (pass != NULL && !pc.asked)
		log_warnx("certificate credential: the private key is not encrypted: "
			  "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF is not needed");
	log_debug("certificate key loaded: %d-bit RSA%s, %zu bytes of OpenSSL's secure heap",
	    EVP_PKEY_get_bits(ck->key), pc.asked ? " (decrypted)" : "",
	    CRYPTO_secure_used() - secure_before);
	return 0;
}

void
cert_key_free(struct cert_key *ck)
{
	EVP_PKEY_free(ck->key); /* the key's numbers are wiped as they are freed */
	X509_free(ck->cert);
	memset(ck, 0, sizeof(*ck));
}

/* base64url(JSON) of o, appended to out at *len; o is released. */
static void
append_b64_json(struct json_object *o, char *out, size_t cap, size_t *len)
{
	const char *s = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n = strlen(s);

	if (*len + sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) > cap)
		fatalx("client assertion too long");
	b64url((const unsigned char *)s, n, out + *len, cap - *len);
	*len += strlen(out + *len);
	json_object_put(o);
}

static struct json_object *
assertion_claims(const char *aud, const char *client_id, int64_t now)
{
	struct json_object *c = json_object_new_object();
	unsigned char jti[16];
	char jti_hex[33];

	randombytes_buf(jti, sizeof(jti));
	sodium_bin2hex(jti_hex, sizeof(jti_hex), jti, sizeof(jti));
	jx_add_str(c, "aud", aud);
	jx_add_str(c, "iss", client_id);
	jx_add_str(c, "sub", client_id);
	jx_add_str(c, "jti", jti_hex);
	jx_add(c, "nbf", json_object_new_int64(now));
	jx_add(c, "iat", json_object_new_int64(now));
	jx_add(c, "exp", json_object_new_int64(now + ASSERTION_LIFETIME_S));
	return c;
}

/* RS256: PKCS #1 v1.5, OpenSSL's default for RSA.  PS256 (RFC 7518
 * section 3.5): PSS with SHA-256, MGF1 with SHA-256, and a salt as long as
 * the hash, 32 bytes; left to OpenSSL the salt would be as long as the key
 * allows, which a verifier that follows the RFC refuses. */
static int
assertion_digest_sign(const struct cert_key *ck, enum assertion_alg alg, const char *in,
    size_t len, unsigned char *sig, size_t *siglen)
{
	EVP_MD_CTX *md;
	EVP_PKEY_CTX *pctx = NULL;
	int ok;

	if ((md = EVP_MD_CTX_new()) == NULL)
		fatalx("out of memory");
	ok = EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, ck->key) == 1;
	if (ok && alg == ASSERTION_ALG_PS256)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1 &&
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, ASSERTION_PSS_SALT_LEN) == 1;
	ok = ok && EVP_DigestSign(md, sig, siglen, (const unsigned char *)in, len) == 1;
	EVP_MD_CTX_free(md); /* frees pctx too */
	return ok ? 0 : -1;
}

int
assertion_sign(const struct cert_key *ck, enum assertion_alg alg, const char *aud,
    const char *client_id, int64_t now, char *out, size_t cap, struct secret_error *err)
{
	struct json_object *h = json_object_new_object();
	unsigned char sig[1024];
	size_t len = 0, siglen = sizeof(sig);

	jx_add_str(h, "alg", config_assertion_alg_name(alg));
	jx_add_str(h, "typ", "JWT");
	jx_add_str(h, "x5t#S256", ck->x5t_s256);
	jx_add_str(h, "x5t", ck->x5t);
	append_b64_json(h, out, cap, &len);
	out[len++] = '.';
	append_b64_json(assertion_claims(aud, client_id, now), out, cap, &len);
	if (assertion_digest_sign(ck, alg, out, len, sig, &siglen) == -1)
		return cert_fail(err, ERR_SECRET_UNAVAILABLE, "signing the client assertion failed");
	if (len + 1 + sodium_base64_ENCODED_LEN(siglen, sodium_base64_VARIANT_URLSAFE_NO_PADDING) >
	    cap)
		fatalx("client assertion too long");
	out[len++] = '.';
	b64url(sig, siglen, out + len, cap - len);
	return 0;
}
