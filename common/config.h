/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Configuration from the environment (DESIGN.md section 7, reference 001).
 * Every process parses the same MCP_AUTH_BROKER_* variables with this code;
 * each bad value is reported with the variable's name and the reason, and the
 * program exits with EX_CONFIG (78). */
#ifndef MAB_CONFIG_H
#define MAB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "log.h"
#include "strutil.h"

#define EX_CONFIG_STATUS 78

/* The largest tool result one Graph body of max_response bytes can make:
 * structuredContent holds the body once as JSON (json-c writes it back no
 * longer than Graph sent it), the text content holds that JSON again as a
 * string, where escaping at most doubles it (a quote or a backslash gains a backslash),
 * plus 64 KiB for the envelope (token, policy, headers, ids). */
#define CONFIG_ANSWER_MAX(max_response) (3L * (max_response) + 65536L)
/* Default cap on a session's unread answers; raised to CONFIG_ANSWER_MAX
 * when MCP_AUTH_BROKER_MAX_RESPONSE_BYTES asks for more. */
#define CONFIG_SESSION_MAX_OUTPUT_DEFAULT (16L * 1024 * 1024)

enum broker_env { BROKER_ENV_SMOKE, BROKER_ENV_DEV, BROKER_ENV_STAGING, BROKER_ENV_PROD };

enum secret_provider {
	SECRET_PROVIDER_NONE,
	SECRET_PROVIDER_1PASSWORD,
	SECRET_PROVIDER_FILE,
	SECRET_PROVIDER_COMMAND,
	SECRET_PROVIDER_ENV,
	SECRET_PROVIDER_SMOKE, /* chosen by MCP_AUTH_BROKER_ENV=smoke, not by name */
};

/* Which tool names tools/list offers (MCP_AUTH_BROKER_TOOL_NAMES); both sets
 * are callable whichever is listed. */
enum tool_names {
	TOOL_NAMES_SHORT,    /* ^[a-zA-Z0-9_-]{1,64}$: what every MCP client accepts */
	TOOL_NAMES_ORIGINAL, /* the original broker's dotted names */
};

/* How tokend proves the application's identity at the login endpoint
 * (MCP_AUTH_BROKER_GRAPH_CREDENTIAL). */
enum graph_credential {
	GRAPH_CREDENTIAL_SECRET,      /* client_secret, served by secretd */
	GRAPH_CREDENTIAL_CERTIFICATE, /* client_assertion, signed by secretd */
	GRAPH_CREDENTIAL_FEDERATED,   /* client_assertion: the token file secretd reads */
	GRAPH_CREDENTIAL_MANAGED_IDENTITY, /* tokens from the host's identity endpoint */
};

/* Workload identity federation: the variables the Azure workload-identity
 * webhook injects (AKS) and other OIDC set-ups use.  Read only with the
 * federated credential; the AZURE_* identity ones fill the broker's own
 * only when those are unset. */
#define AZURE_FEDERATED_TOKEN_FILE_VAR "AZURE_FEDERATED_TOKEN_FILE"
#define AZURE_CLIENT_ID_VAR "AZURE_CLIENT_ID"
#define AZURE_TENANT_ID_VAR "AZURE_TENANT_ID"
#define AZURE_AUTHORITY_HOST_VAR "AZURE_AUTHORITY_HOST"

/* How secretd signs a certificate credential's client assertion
 * (MCP_AUTH_BROKER_GRAPH_ASSERTION_ALGORITHM); Entra ID accepts both. */
enum assertion_alg {
	ASSERTION_ALG_RS256, /* RSASSA-PKCS1-v1_5 with SHA-256 */
	ASSERTION_ALG_PS256, /* RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt */
};

/* How HTTP callers are authenticated (MCP_AUTH_BROKER_AUTH_MODE). */
enum auth_mode {
	AUTH_MODE_NONE,	   /* loopback only: nobody to tell apart */
	AUTH_MODE_API_KEY, /* Authorization: Bearer <key>, hashes in API_KEYS_FILE */
	AUTH_MODE_OAUTH,   /* Authorization: Bearer <JWT> of the authorization server */
	AUTH_MODE_HYBRID,  /* an API key if it is one, else an OAuth bearer token */
};

/* Whether callers may present an API key, an OAuth token. */
#define AUTH_MODE_KEYS(m)  ((m) == AUTH_MODE_API_KEY || (m) == AUTH_MODE_HYBRID)
#define AUTH_MODE_OAUTH(m) ((m) == AUTH_MODE_OAUTH || (m) == AUTH_MODE_HYBRID)
/* Who may read GET /metrics (MCP_AUTH_BROKER_HTTP_METRICS). */
enum http_metrics {
	HTTP_METRICS_OFF,      /* 404 */
	HTTP_METRICS_LOOPBACK, /* peers on a loopback address only (default) */
	HTTP_METRICS_ON,       /* any peer the transport authenticates */
};

/* One entry of MCP_AUTH_BROKER_ALLOWED_PATHS: "METHOD:/glob" or "/glob". */
struct path_rule {
	char *method; /* NULL: any method */
	char *pattern;
	char *role;   /* MCP_AUTH_BROKER_PATH_ROLES: the caller must hold it; NULL: none */
};

struct config {
	enum broker_env env;
	char *tenant_id;
	char *client_id;
	struct strlist resources; /* "https://host[:port]", lower case, no slash */
	struct strlist scopes;
	bool enable_mutations;
	struct path_rule *paths;
	size_t n_paths; /* 0: no path allowlist */
	enum secret_provider secret_provider;
	/* The one reference secretd resolves: MCP_AUTH_BROKER_GRAPH_SECRET_REF,
	 * or with a certificate credential MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF
	 * (a PEM with the private key and its certificate). */
	char *secret_ref;
	enum graph_credential graph_credential;
	char *certificate_ref; /* as given; secret_ref is the same then */
	/* managed_identity: the endpoint asked (MCP_AUTH_BROKER_MANAGED_IDENTITY_ENDPOINT,
	 * else IDENTITY_ENDPOINT, else IMDS), whether it speaks the App Service
	 * protocol (IDENTITY_ENDPOINT: secretd holds IDENTITY_HEADER, served as
	 * the secret), and a user-assigned identity's client id (NULL: system). */
	char *mi_endpoint;
	bool mi_app_service;
	char *mi_client_id;
	char *federated_token_file; /* federated: AZURE_FEDERATED_TOKEN_FILE, absolute */
	/* certificate: the reference of the encrypted key's passphrase, resolved
	 * by the same provider; NULL: the key is not encrypted. */
	char *certificate_passphrase_ref;
	enum assertion_alg assertion_alg;
	bool assertion_alg_set; /* given: refused unless the credential is certificate */
	long secret_timeout_s; /* a helper (op, command) is killed after this */
	long secret_cache_s;   /* how long secretd keeps a resolved secret */
	char *op_path;	       /* 1password: op, when not found on PATH */
	char *secret_helper;   /* command: the helper printing the secret */
	char *authority;
	char *ca_file;
	char *audit_file;
	enum log_level log_level;
	long token_cache_skew_s;
	long token_max_ttl_s;
	long token_provider_timeout_s;
	long max_message_bytes;
	long max_response_bytes;
	long max_inflight;
	long paging_max_pages; /* the most pages one call's max_pages may follow */
	long paging_max_items; /* no further page is fetched past this many items */
	/* A session's answers not yet read by its client, in bytes: an answer
	 * that would take it past this is replaced by a small error (brokerd
	 * session.c).  At least CONFIG_ANSWER_MAX(max_response_bytes). */
	long session_max_output_bytes;
	long max_sessions_per_uid; /* unix-socket sessions one uid may hold */
	long session_idle_timeout_s; /* a unix-socket session idle this long is closed */
	/* Unix-socket peers (SO_PEERCRED): allowed when the uid is listed, or the
	 * primary or a supplementary gid is.  No uid listed: brokerd's own. */
	uid_t *allowed_uids;
	size_t n_allowed_uids;
	gid_t *allowed_gids;
	size_t n_allowed_gids;
	char *socket_group; /* group (name or number) of a socket brokerd creates */
	long shutdown_grace_s; /* SIGTERM: how long calls in flight may finish */
	char *libexecdir; /* override of the compiled-in LIBEXECDIR */
	enum tool_names tool_names;
	/* brokerd --http (brokerd/http.c) */
	enum auth_mode auth_mode;
	char *api_keys_file;	   /* api_key: "name sha256hex" lines */
	bool http_behind_proxy;	   /* a proxy terminates TLS: a public address is fine */
	struct strlist http_allowed_origins; /* beyond loopback ones, "scheme://host[:port]" */
	struct strlist http_allowed_hosts;   /* Host values beyond the listen address */
	long http_max_connections;
	long http_max_connections_per_address;
	long http_request_timeout_s; /* a connection silent this long is closed */
	/* AUTH_MODE oauth and hybrid: RFC 9728's resource (the public URL of
	 * /mcp), the issuer a token must name and where its keys are (defaults:
	 * Entra ID v2.0 of the tenant), the audiences a token may name (the
	 * resource URL, then OAUTH_AUDIENCE) and the scopes or roles it must
	 * carry. */
	char *resource_server_url;
	/* Per-caller rules: a role (or scope) the verified caller must hold for
	 * any mutation, and per allowlist entry (path_rule.role, from
	 * MCP_AUTH_BROKER_PATH_ROLES "RULE=ROLE" entries, kept until the
	 * allowlist is known). */
	char *mutations_required_role;
	struct strlist path_roles;
	char *oauth_issuer;
	char *oauth_jwks_uri;
	struct strlist oauth_audiences;
	struct strlist oauth_required_scopes;
	enum http_metrics http_metrics;
	long http_ready_cache_s; /* GET /ready: how long one check's result answers */
	char policy_version[17]; /* hex digest of everything policy depends on */
};

/* The problems config_load found, one line each ("NAME: why"). */
struct config_errors {
	char **v;
	size_t n;
};

/* Loads from envp (a NULL-terminated "NAME=value" array, as environ).  Returns
 * 0, or -1 with every problem in errs; cfg is usable only on 0. */
int config_load(struct config *cfg, char *const *envp, struct config_errors *errs);
/* "none", "api_key", "oauth", "hybrid" */
const char *config_auth_mode_name(enum auth_mode m);
void config_free(struct config *cfg);
void config_errors_free(struct config_errors *errs);
/* Loads from environ; on error prints each problem and exits 78. */
void config_load_or_exit(struct config *cfg);

const char *config_env_name(enum broker_env env);
const char *config_provider_name(enum secret_provider p);
const char *config_credential_name(enum graph_credential c);
/* Whether tokend logs in with a client assertion secretd makes (signed with
 * the certificate's key, or the federated token read from its file) rather
 * than with a client secret secretd serves. */
bool config_credential_is_assertion(enum graph_credential c);
const char *config_assertion_alg_name(enum assertion_alg a);
bool config_resource_allowed(const struct config *cfg, const char *resource);
bool config_scope_allowed(const struct config *cfg, const char *scope);

/* Whether NAME is one of ours: the variables brokerd passes to its children
 * (MCP_AUTH_BROKER_* and the four AZURE_* workload-identity ones, which are
 * no secret: the token is in the file one of them names). */
bool config_is_broker_var(const char *name_eq_value);
/* Whether brokerd also passes this variable to its children: one the
 * configuration reads beyond ours (IDENTITY_ENDPOINT, no secret). */
bool config_is_child_var(const struct config *cfg, const char *name_eq_value);

/* Appends "name: why" to errs, for checks made outside config_load. */
void config_error_add(struct config_errors *errs, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The reference shapes each provider accepts (config_load checks them). */
bool config_op_ref_valid(const char *ref);
bool config_env_ref_valid(const char *ref);

#endif
