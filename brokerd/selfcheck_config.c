/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* brokerd --check: everything that can be checked without starting
 * anything: the configuration, the secret provider's prerequisites, the
 * children's programs, seccomp, the CA and audit files.  Every problem is
 * reported in one run, each with what to do about it. */
#include "buildconf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "brokerd.h"
#include "http_request.h"
#include "log.h"
#include "msg.h"
#include "report.h"
#include "sandbox.h"
#include "secretenv.h"

#include <sodium.h>

extern char **environ;

#define HINT_CONFIG "correct or unset the variable (mcp-auth-broker.conf(5) lists each)"
#define HINT_PROGRAMS "install secretd and tokend there, or point MCP_AUTH_BROKER_LIBEXECDIR at them"

/* A CA file holds at most this much: a system bundle is about 200 KiB. */
#define CA_FILE_MAX (4L * 1024 * 1024)

static void
check_file(struct report *t, const char *what, const char *path, int mode, const char *use,
    const char *hint)
{
	if (access(path, mode) == 0)
		report_add(t, VERDICT_OK, what, NULL, "%s %s", path, use);
	else
		report_add(t, VERDICT_FAIL, what, hint, "%s: %s", path, strerror(errno));
}

/* secretd and tokend in dir (NULL: the compiled-in LIBEXECDIR); with
 * verbose, a line for each, else only for one that is missing. */
static void
check_programs(struct report *t, const char *dir, bool verbose)
{
	static const char *const names[] = { "secretd", "tokend" };
	char path[4096];

	for (size_t i = 0; i < 2; i++) {
		children_program_path(dir, names[i], path, sizeof(path));
		if (verbose || access(path, X_OK) == -1)
			check_file(t, names[i], path, X_OK, "is executable", HINT_PROGRAMS);
	}
}

void
selfcheck_ready_programs(const struct config *cfg, bool json)
{
	struct report t;

	report_init(&t, "ready", json);
	check_programs(&t, cfg->libexecdir, false);
	if (t.failed)
		report_end(&t);
	json_object_put(t.checks);
}

/* The audit file is opened at start for appending, O_NOFOLLOW, created
 * if missing (audit.c): an existing one must be a regular file that opens
 * so; a missing one needs a writable directory.  Nothing is created here. */
static void
check_audit_file(struct report *t, const char *path)
{
	char dir[4096];
	char *slash;
	struct stat st;
	int fd;

	if (path == NULL) {
		report_add(t, VERDICT_OK, "audit", NULL,
		    "records go to stderr (MCP_AUTH_BROKER_AUDIT_FILE unset)");
		return;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			report_add(t, VERDICT_FAIL, "audit",
			    "point MCP_AUTH_BROKER_AUDIT_FILE at a regular file",
			    "%s is not a regular file%s", path,
			    S_ISLNK(st.st_mode) ? " (a symbolic link, which is not followed)" : "");
			return;
		}
		if ((fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)) == -1) {
			report_add(t, VERDICT_FAIL, "audit",
			    "make it writable by the user brokerd runs as", "%s: %s", path,
			    strerror(errno));
			return;
		}
		close(fd);
		report_add(t, VERDICT_OK, "audit", NULL, "%s exists and opens for appending", path);
		return;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/'); /* the path is absolute (checked by the caller) */
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	if (access(dir, W_OK | X_OK) == 0)
		report_add(t, VERDICT_OK, "audit", NULL, "%s will be created (0600)", path);
	else
		report_add(t, VERDICT_FAIL, "audit",
		    "create the directory, writable by the user brokerd runs as, or choose "
		    "another MCP_AUTH_BROKER_AUDIT_FILE",
		    "%s cannot be created: %s: %s", path, dir, strerror(errno));
}

/* ---- the CA file: PEM certificates ------------------------------------- */

/* A DER SEQUENCE filling exactly len bytes: what a certificate is on the
 * outside.  Enough to tell a certificate from a key, a typo or HTML. */
static bool
der_sequence(const unsigned char *d, size_t len)
{
	size_t n, hdr = 2;

	if (len < 2 || d[0] != 0x30)
		return false;
	if (d[1] < 0x80) {
		n = d[1];
	} else {
		size_t k = d[1] & 0x7f;
		if (k == 0 || k > 4 || len < 2 + k)
			return false;
		n = 0;
		for (size_t i = 0; i < k; i++)
			n = (n << 8) | d[2 + i];
		hdr += k;
	}
	return hdr + n == len;
}

/* The number of CERTIFICATE blocks in text, or -1 with *why at the first
 * block that does not decode to a certificate. */
static int
pem_count_certificates(const char *text, const char **why)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----", end[] = "-----END CERTIFICATE-----";
	const char *p = text, *b, *e;
	int n = 0;

	while ((b = strstr(p, begin)) != NULL) {
		size_t b64len, binlen;
		unsigned char *bin;
		b += sizeof(begin) - 1;
		if ((e = strstr(b, end)) == NULL) {
			*why = "a BEGIN CERTIFICATE line without its END line";
			return -1;
		}
		b64len = (size_t)(e - b);
		if ((bin = malloc(b64len + 1)) == NULL)
			fatalx("out of memory");
		if (sodium_base642bin(bin, b64len, b, b64len, " \t\r\n", &binlen, NULL,
			sodium_base64_VARIANT_ORIGINAL) != 0 || !der_sequence(bin, binlen)) {
			free(bin);
			*why = "a CERTIFICATE block that is not base64 of a DER certificate";
			return -1;
		}
		free(bin);
		n++;
		p = e + sizeof(end) - 1;
	}
	return n;
}

static char *
read_small_file(const char *path, long max, const char **why)
{
	FILE *f = fopen(path, "re");
	char *text;
	size_t n;

	if (f == NULL) {
		*why = strerror(errno);
		return NULL;
	}
	if ((text = malloc((size_t)max + 1)) == NULL)
		fatalx("out of memory");
	n = fread(text, 1, (size_t)max + 1, f);
	if (ferror(f) || n > (size_t)max) {
		*why = ferror(f) ? strerror(errno) : "larger than 4 MiB: not a CA bundle";
		fclose(f);
		free(text);
		return NULL;
	}
	fclose(f);
	text[n] = '\0';
	return text;
}

/* tokend adds this file to the system CAs: it must hold PEM certificates,
 * or every TLS handshake with a private CA fails at the first call. */
static void
check_ca_file(struct report *t, const char *path)
{
	const char *why = NULL;
	char *text = read_small_file(path, CA_FILE_MAX, &why);
	int n;

	if (text == NULL) {
		report_add(t, VERDICT_FAIL, "CA file",
		    "make MCP_AUTH_BROKER_CA_FILE name a readable PEM file, or unset it",
		    "%s: %s", path, why);
		return;
	}
	n = pem_count_certificates(text, &why);
	free(text);
	if (n > 0)
		report_add(t, VERDICT_OK, "CA file", NULL, "%s is readable: %d PEM certificate%s",
		    path, n, n == 1 ? "" : "s");
	else
		report_add(t, VERDICT_WARN, "CA file",
		    "give MCP_AUTH_BROKER_CA_FILE a file of PEM certificates (-----BEGIN "
		    "CERTIFICATE-----), or unset it",
		    "MCP_AUTH_BROKER_CA_FILE %s does not parse as PEM certificates: %s", path,
		    n == 0 ? "no BEGIN CERTIFICATE block" : why);
}

/* ---- the secret provider -------------------------------------------------- */

static void
check_provider_file(struct report *t, const struct config *cfg)
{
	char path[4096];

	if (cfg->secret_ref[0] == '/')
		snprintf(path, sizeof(path), "%s", cfg->secret_ref);
	else if (secretenv_credential_path(getenv(CREDENTIALS_DIR_VAR), cfg->secret_ref, path,
		     sizeof(path)) == -1)
		snprintf(path, sizeof(path), "%s", cfg->secret_ref);
	if (access(path, R_OK) == -1)
		report_add(t, VERDICT_FAIL, "secret provider",
		    "create the file (mode 0600, owned by brokerd's user) or correct "
		    "MCP_AUTH_BROKER_GRAPH_SECRET_REF",
		    "file: %s: %s", path, strerror(errno));
	else
		report_add(t, VERDICT_OK, "secret provider", NULL,
		    "file: %s is readable (secretd checks owner and mode when it reads it)", path);
}

/* The certificate credential: its public facts as secretd reads them
 * (secretd --describe-certificate; the key never reaches brokerd), with a
 * warning 30 days before it expires. */
static void
check_certificate(struct report *t, const struct config *cfg)
{
	struct msg_cert_info ci;
	char line[768], why[512];

	if (cfg->env == BROKER_ENV_SMOKE || cfg->graph_credential != GRAPH_CREDENTIAL_CERTIFICATE)
		return;
	if (secrets_describe_certificate(cfg, &ci, why, sizeof(why)) == -1) {
		report_add(t, VERDICT_FAIL, "certificate",
		    cfg->certificate_passphrase_ref != NULL
			? "check MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF, the PEM it names and the "
			  "passphrase MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF names"
			: "check MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF and the PEM it names",
		    "%s", why);
		return;
	}
	/* secretd described it: the key decrypted, when it is encrypted. */
	report_add(t, VERDICT_OK, "client assertion", NULL, "signed %s%s",
	    config_assertion_alg_name(cfg->assertion_alg),
	    cfg->certificate_passphrase_ref != NULL
		? "; the key is encrypted and its passphrase decrypts it"
		: "");
	if (secrets_cert_line(&ci, (int64_t)time(NULL), line, sizeof(line)))
		report_add(t, VERDICT_WARN, "certificate",
		    "renew it and upload the new one to the app registration", "%s", line);
	else
		report_add(t, VERDICT_OK, "certificate", NULL, "%s", line);
}

/* A managed identity: which endpoint and identity tokend will ask for
 * (brokerd --ready proves a token can be had). */
static void
check_managed_identity(struct report *t, const struct config *cfg)
{
	if (cfg->env == BROKER_ENV_SMOKE ||
	    cfg->graph_credential != GRAPH_CREDENTIAL_MANAGED_IDENTITY)
		return;
	report_add(t, VERDICT_OK, "managed identity", NULL, "%s%s via %s %s%s",
	    cfg->mi_client_id ? "user-assigned, client id " : "system-assigned",
	    cfg->mi_client_id ? cfg->mi_client_id : "",
	    cfg->mi_app_service ? "the App Service / Container Apps endpoint" : "IMDS",
	    cfg->mi_endpoint,
	    cfg->mi_app_service ? " (IDENTITY_HEADER held by secretd)" : "");
}

/* The federated credential: the token file's claims as secretd reads them
 * (secretd --describe-federated; the token never reaches brokerd). */
static void
check_federated(struct report *t, const struct config *cfg)
{
	struct federated_check fc;

	secrets_federated_describe(cfg, &fc);
	secrets_federated_report(t, cfg, &fc);
}

static void
check_provider(struct report *t, const struct config *cfg)
{
	struct config_errors errs;
	char path[4096];

	if (secretenv_check(cfg, &errs) == 0 && cfg->env != BROKER_ENV_SMOKE &&
	    cfg->graph_credential == GRAPH_CREDENTIAL_MANAGED_IDENTITY)
		return; /* no secret provider: check_managed_identity says what is used */
	config_errors_free(&errs);
	if (secretenv_check(cfg, &errs) == -1) {
		for (size_t i = 0; i < errs.n; i++)
			report_add(t, VERDICT_FAIL, "secret provider",
			    "secretd(8) lists each provider's prerequisites", "%s", errs.v[i]);
		config_errors_free(&errs);
		return;
	}
	switch (cfg->env == BROKER_ENV_SMOKE ? SECRET_PROVIDER_SMOKE : cfg->secret_provider) {
	case SECRET_PROVIDER_SMOKE:
		report_add(t, VERDICT_OK, "secret provider", NULL, "smoke: the built-in fake secret");
		break;
	case SECRET_PROVIDER_1PASSWORD:
		if (secretenv_find_op(cfg, getenv("PATH"), path, sizeof(path)) == -1)
			snprintf(path, sizeof(path), "op");
		report_add(t, VERDICT_OK, "secret provider", NULL,
		    "1password: %s read %s, service-account token %s", path, cfg->secret_ref,
		    secretenv_op_credential_exists() ? "from the systemd credential"
						     : "from the environment");
		if (access(path, R_OK) == 0) /* the advice says what to do */
			report_add(t, VERDICT_WARN, "op binary", NULL, "%s " OP_READABLE_ADVICE, path);
		break;
	case SECRET_PROVIDER_FILE:
		check_provider_file(t, cfg);
		break;
	case SECRET_PROVIDER_COMMAND:
		report_add(t, VERDICT_OK, "secret provider", NULL, "command: %s %s",
		    cfg->secret_helper, cfg->secret_ref);
		break;
	case SECRET_PROVIDER_ENV:
		report_add(t, VERDICT_OK, "secret provider", NULL, "env: %s (for development only)",
		    cfg->secret_ref);
		break;
	default:
		if (cfg->graph_credential == GRAPH_CREDENTIAL_FEDERATED)
			report_add(t, VERDICT_OK, "secret provider", NULL,
			    "none: the federated credential reads AZURE_FEDERATED_TOKEN_FILE");
		else
			report_add(t, VERDICT_OK, "secret provider", NULL,
			    "none: every token request fails secret.unavailable");
		break;
	}
}

/* ---- settings that load but cannot be what the operator meant ----------- */

/* A GUID of one repeated digit: the all-zero placeholder of the client
 * examples, or smoke mode's stand-ins copied into a real configuration. */
static bool
placeholder_guid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (size_t i = 0; s[i]; i++)
		if (s[i] != '-' && tolower((unsigned char)s[i]) != tolower((unsigned char)s[0]))
			return false;
	return true;
}

static void
check_placeholders(struct report *t, const struct config *cfg)
{
	static const char *const hint = "copy the value from the app registration's Overview page "
					"in the Entra admin center";

	if (placeholder_guid(cfg->tenant_id))
		report_add(t, VERDICT_WARN, "tenant", hint,
		    "MCP_AUTH_BROKER_TENANT_ID %s is a placeholder, not a tenant", cfg->tenant_id);
	if (placeholder_guid(cfg->client_id))
		report_add(t, VERDICT_WARN, "client id", hint,
		    "MCP_AUTH_BROKER_GRAPH_CLIENT_ID %s is a placeholder, not an application id",
		    cfg->client_id);
}

static void
check_settings(struct report *t, const struct config *cfg)
{
	if (cfg->env == BROKER_ENV_SMOKE)
		return; /* stand-ins by design, and nothing reaches a real tenant */
	if (cfg->env == BROKER_ENV_PROD &&
	    cfg->graph_credential != GRAPH_CREDENTIAL_MANAGED_IDENTITY &&
	    (cfg->secret_provider == SECRET_PROVIDER_NONE ||
		cfg->secret_provider == SECRET_PROVIDER_ENV))
		report_add(t, VERDICT_WARN, "secret provider",
		    "set MCP_AUTH_BROKER_SECRET_PROVIDER to 1password, file (a systemd "
		    "credential) or command in production",
		    "MCP_AUTH_BROKER_SECRET_PROVIDER=%s is a development provider, and MCP_AUTH_BROKER_ENV is prod: %s",
		    config_provider_name(cfg->secret_provider),
		    cfg->secret_provider == SECRET_PROVIDER_NONE
			? "every token request fails secret.unavailable"
			: "the secret sits in the environment of brokerd and secretd");
	check_placeholders(t, cfg);
	if (cfg->enable_mutations && cfg->n_paths == 0)
		report_add(t, VERDICT_WARN, "mutations",
		    "set MCP_AUTH_BROKER_ALLOWED_PATHS to the paths writes need (e.g. "
		    "POST:/v1.0/sites/*/lists/*/items)",
		    "MCP_AUTH_BROKER_ENABLE_MUTATIONS is on with no MCP_AUTH_BROKER_ALLOWED_PATHS: any POST, PUT, PATCH or "
		    "DELETE the token's roles permit is allowed");
}

/* brokerd --http with AUTH_MODE=api_key: the key file as start-up reads it. */
static void
check_api_keys(struct report *t, const struct config *cfg)
{
	struct api_keys k;
	char why[256];

	if (!AUTH_MODE_KEYS(cfg->auth_mode))
		return;
	if (api_keys_load(&k, cfg->api_keys_file, why, sizeof(why)) == -1)
		report_add(t, VERDICT_FAIL, "API keys",
		    "one 'name sha256hex [role,...]' line per key, owned by brokerd's user, chmod 0600",
		    "%s: %s", cfg->api_keys_file, why);
	else
		report_add(t, VERDICT_OK, "API keys", NULL, "%s: %zu key%s", cfg->api_keys_file,
		    k.n, k.n == 1 ? "" : "s");
	api_keys_free(&k);
}

/* OAuth callers: what a token must be, and where the keys come from
 * (fetched by tokend once it runs: --ready proves they can be). */
static void
check_oauth(struct report *t, const struct config *cfg)
{
	if (!AUTH_MODE_OAUTH(cfg->auth_mode))
		return;
	report_add(t, VERDICT_OK, "OAuth", NULL,
	    "tokens issued by %s for %s%s%s; keys from %s", cfg->oauth_issuer,
	    cfg->resource_server_url, cfg->oauth_audiences.n > 1 ? " (or another audience)" : "",
	    cfg->oauth_required_scopes.n > 0 ? ", with the required scopes or roles" : "",
	    cfg->oauth_jwks_uri);
}

/* Who GET /metrics serves, as http_request.c decides it. */
static const char *
metrics_audience(const struct config *cfg)
{
	if (cfg->http_metrics == HTTP_METRICS_LOOPBACK)
		return "peers on a loopback address only";
	return cfg->auth_mode != AUTH_MODE_NONE ? "any authenticated caller"
						: "any peer (AUTH_MODE=none: loopback only)";
}

void
selfcheck_http(struct report *t, const struct config *cfg, const char *hostport)
{
	const char *auth = config_auth_mode_name(cfg->auth_mode);
	char why[512];
	bool loopback;

	if (hostport == NULL) /* not serving HTTP: the settings were checked as loaded */
		return;
	if (http_check_address(cfg, hostport, &loopback, why, sizeof(why)) == -1) {
		report_add(t, VERDICT_FAIL, "http", "see the HTTP section of brokerd(8)", "%s", why);
		return;
	}
	if (cfg->http_metrics == HTTP_METRICS_OFF)
		report_add(t, VERDICT_OK, "http", NULL,
		    "http://%s/mcp (auth %s); /health and /ready for any peer; /metrics off (404)",
		    hostport, auth);
	else
		report_add(t, VERDICT_OK, "http", NULL,
		    "http://%s/mcp (auth %s); /health and /ready for any peer; /metrics at "
		    "http://%s/metrics for %s",
		    hostport, auth, hostport, metrics_audience(cfg));
}

static void
check_sandbox(struct report *t)
{
	if (!sandbox_available()) {
		report_add(t, VERDICT_FAIL, "seccomp", "rebuild without --disable-seccomp",
		    "built with --disable-seccomp: no filter is loaded");
		return;
	}
	report_add(t, VERDICT_OK, "seccomp", NULL, "brokerd, secretd and tokend load their filters");
	if (sandbox_landlock_abi() >= 1)
		report_add(t, VERDICT_OK, "landlock", NULL,
		    "ABI %d: tokend reads only beneath /etc, /usr and /lib", sandbox_landlock_abi());
	else
		report_add(t, VERDICT_WARN, "landlock", "run on Linux 5.13 or later",
		    "not available in this kernel: tokend may read any file its user can");
}

/* With a configuration that does not load, the files are still checked
 * where their variables say: every problem in one run. */
static const char *
raw_path(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] == '/' ? v : NULL;
}

void
selfcheck_config(bool json, const char *http)
{
	struct report t;
	struct config cfg;
	struct config_errors errs;
	const char *env = getenv("MCP_AUTH_BROKER_ENV");
	bool loaded = config_load(&cfg, environ, &errs) == 0;

	report_init(&t, "check", json);
	if (loaded) {
		report_add(&t, VERDICT_OK, "configuration", NULL,
		    "env %s, tenant %s, %zu resource%s, %zu scope%s, policy %s",
		    config_env_name(cfg.env), cfg.tenant_id, cfg.resources.n,
		    cfg.resources.n == 1 ? "" : "s", cfg.scopes.n, cfg.scopes.n == 1 ? "" : "s",
		    cfg.policy_version);
		check_settings(&t, &cfg);
		check_provider(&t, &cfg);
		check_certificate(&t, &cfg);
		check_managed_identity(&t, &cfg);
		check_federated(&t, &cfg);
		check_api_keys(&t, &cfg);
		check_oauth(&t, &cfg);
		selfcheck_http(&t, &cfg, http);
		check_programs(&t, cfg.libexecdir, true);
	} else {
		for (size_t i = 0; i < errs.n; i++)
			report_add(&t, VERDICT_FAIL, "configuration", HINT_CONFIG, "%s", errs.v[i]);
		config_errors_free(&errs);
		/* What follows does not depend on the rest of the configuration. */
		check_programs(&t, raw_path("MCP_AUTH_BROKER_LIBEXECDIR"), true);
	}
	check_sandbox(&t);
	if (loaded) {
		if (cfg.env != BROKER_ENV_SMOKE && cfg.ca_file != NULL)
			check_ca_file(&t, cfg.ca_file);
		check_audit_file(&t, cfg.audit_file);
		config_free(&cfg);
	} else {
		const char *audit = getenv("MCP_AUTH_BROKER_AUDIT_FILE");
		if (raw_path("MCP_AUTH_BROKER_CA_FILE") != NULL && env != NULL && strcmp(env, "smoke") != 0)
			check_ca_file(&t, raw_path("MCP_AUTH_BROKER_CA_FILE"));
		if (audit == NULL || audit[0] == '/') /* else config_load named it */
			check_audit_file(&t, audit);
	}
	report_end(&t);
}
