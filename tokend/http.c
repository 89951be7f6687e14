/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Transfers on one curl multi handle: connections to the login endpoint and
 * to Graph are reused across calls, and no transfer blocks the loop. */
#include "buildconf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "log.h"
#include "tokend.h"

/* The system bundle Debian keeps; MCP_AUTH_BROKER_CA_FILE is added to it. */
#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
/* Connections per host: enough for parallel calls, few enough that TLS
 * set-up (CA parsing above all) does not stall the loop. */
#define HTTP_MAX_HOST_CONNECTIONS 8
/* Bounds what a CA file may cost us in memory. */
#define CA_BUNDLE_MAX (8u * 1024u * 1024u)

static int
read_file_into(const char *path, struct buf *b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd == -1)
		return -1;
	for (;;) {
		if (buf_reserve(b, 65536) == -1 || b->len > CA_BUNDLE_MAX) {
			close(fd);
			errno = EFBIG;
			return -1;
		}
		n = read(fd, b->data + b->len, b->cap - b->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		b->len += (size_t)n;
	}
	close(fd);
	return n == 0 ? 0 : -1;
}

/* CAs are read now, into memory, because once the sandbox is loaded tokend
 * opens no file. */
static void
http_load_cas(struct tokend *td)
{
	buf_init(&td->ca_bundle);
	if (read_file_into(SYSTEM_CA_BUNDLE, &td->ca_bundle) == -1)
		log_warn("%s", SYSTEM_CA_BUNDLE);
	if (td->cfg.ca_file != NULL) {
		buf_append(&td->ca_bundle, "\n", 1);
		if (read_file_into(td->cfg.ca_file, &td->ca_bundle) == -1) {
			log_error("configuration: MCP_AUTH_BROKER_CA_FILE: cannot read %s: %s",
			    td->cfg.ca_file, strerror(errno));
			exit(EX_CONFIG_STATUS);
		}
	}
}

void
http_init(struct tokend *td)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init failed");
	if ((td->multi = curl_multi_init()) == NULL)
		fatalx("curl_multi_init failed");
	/* Every new TLS connection parses the whole CA bundle on this one
	 * thread; a burst of cold calls queues for a few connections instead
	 * of opening one each (and HTTP/2 multiplexes them anyway). */
	curl_multi_setopt(td->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)HTTP_MAX_HOST_CONNECTIONS);
	http_load_cas(td);
}

void
http_cleanup(struct tokend *td)
{
	curl_multi_cleanup(td->multi);
	X509_STORE_free(td->ca_store);
	td->ca_store = NULL;
	buf_free(&td->ca_bundle);
	curl_global_cleanup();
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (x->body.len + len > x->max_body) {
		x->too_big = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (buf_append(&x->body, p, len) == -1)
		return 0;
	return len;
}

/* Keeps the response headers brokerd may see; the value is trimmed and
 * cut to the buffer, never the whole line. */
static void
keep_header(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name), vlen;
	const char *v;

	if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
		return;
	v = line + nlen + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && isspace((unsigned char)v[vlen - 1]))
		vlen--;
	if (vlen >= outlen)
		vlen = outlen - 1;
	for (size_t i = 0; i < vlen; i++)
		out[i] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
	out[vlen] = '\0';
}

size_t
xfer_on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	keep_header(p, len, "request-id", x->request_id, sizeof(x->request_id));
	keep_header(p, len, "client-request-id", x->client_request_id,
	    sizeof(x->client_request_id));
	keep_header(p, len, "retry-after", x->retry_after, sizeof(x->retry_after));
	keep_header(p, len, "content-type", x->content_type, sizeof(x->content_type));
	keep_header(p, len, "location", x->location, sizeof(x->location));
	return len;
}

/* The CA bundle as one X509 store, made at the first TLS connection and
 * shared by every connection after it.  Given as CURLOPT_CAINFO_BLOB, the
 * bundle was parsed again for each new connection (libcurl's CA cache,
 * CURLOPT_CA_CACHE_TIMEOUT, leaves out a blob): 140-odd PEM certificates,
 * milliseconds of CPU and a store of its own per connection.  The store is
 * filled as libcurl fills one from a blob (every certificate and CRL in
 * the text) and gets the flags libcurl sets on its own. */
static X509_STORE *
http_ca_store(struct tokend *td)
{
	STACK_OF(X509_INFO) *infos = NULL;
	X509_STORE *store;
	BIO *bio = NULL;
	int n = 0;

	if (td->ca_store != NULL || td->ca_store_failed)
		return td->ca_store;
	if ((store = X509_STORE_new()) != NULL &&
	    (bio = BIO_new_mem_buf(td->ca_bundle.data, (int)td->ca_bundle.len)) != NULL)
		infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	for (int i = 0; infos != NULL && i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *info = sk_X509_INFO_value(infos, i);
		if (info->x509 != NULL && X509_STORE_add_cert(store, info->x509) == 1)
			n++;
		if (info->crl != NULL)
			X509_STORE_add_crl(store, info->crl);
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	if (n == 0) {
		log_warnx("the CA bundle holds no certificate: TLS connections will fail");
		X509_STORE_free(store);
		td->ca_store_failed = true;
		return NULL;
	}
	X509_STORE_set_flags(store, X509_V_FLAG_TRUSTED_FIRST | X509_V_FLAG_PARTIAL_CHAIN);
	return td->ca_store = store;
}

/* libcurl's CURLOPT_SSL_CTX_FUNCTION: called for each new connection's
 * SSL_CTX after libcurl has set up its (empty) store. */
static CURLcode
http_ssl_ctx(CURL *e, void *ssl_ctx, void *arg)
{
	X509_STORE *store = http_ca_store(arg);

	(void)e;
	if (store == NULL)
		return CURLE_SSL_CACERT_BADFILE;
	SSL_CTX_set1_cert_store(ssl_ctx, store);
	return CURLE_OK;
}

static void
xfer_ca_options(struct tokend *td, CURL *e)
{
	struct curl_blob ca = { td->ca_bundle.data, td->ca_bundle.len, CURL_BLOB_NOCOPY };

	curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
	curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	/* A libcurl built on another TLS library has no SSL_CTX: the blob. */
	if (curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, td) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, http_ssl_ctx) != CURLE_OK)
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
}

static void
xfer_options(struct tokend *td, struct xfer *x, const char *url, long timeout_ms)
{
	CURL *e = x->easy;

	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	/* HTTPS only, and no redirect is followed: a 3xx is an answer. */
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
	xfer_ca_options(td, e);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, xfer_on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
}

struct xfer *
xfer_new(struct tokend *td, const char *url, long timeout_ms, size_t max_body,
    void (*done)(struct tokend *, struct xfer *, CURLcode), void *owner)
{
	struct xfer *x = calloc(1, sizeof(*x));

	if (x == NULL || (x->easy = curl_easy_init()) == NULL)
		fatalx("out of memory");
	x->done = done;
	x->owner = owner;
	x->max_body = max_body;
	buf_init(&x->body);
	xfer_options(td, x, url, timeout_ms);
	return x;
}

void
xfer_header(struct xfer *x, const char *line)
{
	struct curl_slist *l = curl_slist_append(x->headers, line);

	if (l == NULL)
		fatalx("out of memory");
	x->headers = l;
}

void
xfer_post(struct xfer *x, const char *method, char *body, size_t len)
{
	x->post = body;
	x->post_len = len;
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)len);
	if (strcmp(method, "POST") != 0)
		curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, method);
}

void
xfer_start(struct tokend *td, struct xfer *x)
{
	/* "Expect: 100-continue" would cost a round trip on every large POST. */
	xfer_header(x, "Expect:");
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
	if (curl_multi_add_handle(td->multi, x->easy) != CURLM_OK)
		fatalx("curl_multi_add_handle failed");
}

static void
xfer_free(struct xfer *x)
{
	for (struct curl_slist *l = x->headers; l != NULL; l = l->next)
		sodium_memzero(l->data, strlen(l->data));
	curl_slist_free_all(x->headers);
	curl_slist_free_all(x->resolve);
	if (x->post != NULL) {
		sodium_memzero(x->post, x->post_len);
		free(x->post);
	}
	buf_free(&x->body);
	curl_easy_cleanup(x->easy);
	free(x);
}

void
xfer_abort(struct tokend *td, struct xfer *x)
{
	curl_multi_remove_handle(td->multi, x->easy);
	xfer_free(x);
}

void
http_run(struct tokend *td)
{
	CURLMsg *m;
	int running, left;

	if (curl_multi_perform(td->multi, &running) != CURLM_OK)
		fatalx("curl_multi_perform failed");
	while ((m = curl_multi_info_read(td->multi, &left)) != NULL) {
		struct xfer *x = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &x->status);
		curl_multi_remove_handle(td->multi, x->easy);
		x->done(td, x, m->data.result);
		xfer_free(x);
	}
}

long
retry_after_seconds(const char *value)
{
	char *end;
	long n;

	if (value == NULL || !isdigit((unsigned char)value[0]))
		return -1;
	n = strtol(value, &end, 10);
	if (*end != '\0' || n < 0)
		return -1;
	return n > 3600 ? 3600 : n;
}
