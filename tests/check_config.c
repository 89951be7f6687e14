/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Configuration parsing: defaults, every validation message names its
 * variable, and unknown variables are refused. */
#include "buildconf.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "config.h"
#include "mi_endpoint.h"

#define P "MCP_AUTH_BROKER_"

/* Loads env; returns the number of problems (0 on success). */
static size_t
load(struct config *cfg, char *const *env, struct config_errors *errs)
{
	int rc = config_load(cfg, env, errs);

	ck_assert_int_eq(rc == 0, errs->n == 0);
	return errs->n;
}

/* Asserts that exactly one problem was reported, naming var and containing why. */
static void
assert_one_error(char *const *env, const char *var, const char *why)
{
	struct config cfg;
	struct config_errors errs;

	ck_assert_uint_eq(load(&cfg, env, &errs), 1);
	ck_assert_msg(strncmp(errs.v[0], var, strlen(var)) == 0, "'%s' does not name %s", errs.v[0],
	    var);
	ck_assert_msg(strstr(errs.v[0], why) != NULL, "'%s' does not say '%s'", errs.v[0], why);
	config_errors_free(&errs);
}

START_TEST(smoke_defaults)
{
	char *env[] = { "PATH=/bin", NULL };
	struct config cfg;
	struct config_errors errs;

	ck_assert_uint_eq(load(&cfg, env, &errs), 0);
	ck_assert_int_eq(cfg.env, BROKER_ENV_SMOKE);
	ck_assert_int_eq(cfg.secret_provider, SECRET_PROVIDER_SMOKE);
	ck_assert_str_eq(cfg.tenant_id, "11111111-1111-1111-1111-111111111111");
	ck_assert_str_eq(cfg.authority, "https://login.microsoftonline.com");
	ck_assert_uint_eq(cfg.resources.n, 1);
	ck_assert_str_eq(cfg.resources.v[0], "https://graph.microsoft.com");
	ck_assert(!cfg.enable_mutations);
	ck_assert_int_eq(cfg.token_cache_skew_s, 60);
	ck_assert_int_eq(cfg.token_max_ttl_s, 3000);
	ck_assert_int_eq(cfg.token_provider_timeout_s, 4);
	ck_assert_int_eq(cfg.max_message_bytes, 1024 * 1024);
	ck_assert_int_eq(cfg.max_response_bytes, 4 * 1024 * 1024);
	ck_assert_uint_eq(cfg.n_paths, 0);
	ck_assert_uint_eq(strlen(cfg.policy_version), 16);
	ck_assert_int_eq(cfg.tool_names, TOOL_NAMES_SHORT);
	config_free(&cfg);
}
END_TEST

/* brokerd --http: defaults, the modes, and what each value must look like. */
START_TEST(http_values)
{
	char *defaults[] = { "PATH=/bin", NULL };
	char *keys[] = { P "AUTH_MODE=api_key", P "API_KEYS_FILE=/etc/mab/keys",
		P "HTTP_BEHIND_PROXY=yes", P "HTTP_ALLOWED_ORIGINS=https://App.Example, http://x:8080",
		P "HTTP_ALLOWED_HOSTS=MCP.example:443", P "HTTP_MAX_CONNECTIONS=10",
		P "HTTP_MAX_CONNECTIONS_PER_ADDRESS=2", P "HTTP_REQUEST_TIMEOUT_SECONDS=5",
		P "HTTP_METRICS=on", P "HTTP_READY_CACHE_SECONDS=0", NULL };
	char *metrics_off[] = { P "HTTP_METRICS=off", NULL };
	struct config cfg;
	struct config_errors errs;

	ck_assert_uint_eq(load(&cfg, defaults, &errs), 0);
	ck_assert_int_eq(cfg.auth_mode, AUTH_MODE_NONE);
	ck_assert(!cfg.http_behind_proxy);
	ck_assert_int_eq(cfg.http_max_connections, 64);
	ck_assert_int_eq(cfg.http_max_connections_per_address, 16);
	ck_assert_int_eq(cfg.http_request_timeout_s, 30);
	ck_assert_int_eq(cfg.http_metrics, HTTP_METRICS_LOOPBACK);
	ck_assert_int_eq(cfg.http_ready_cache_s, 5);
	config_free(&cfg);
	ck_assert_uint_eq(load(&cfg, keys, &errs), 0);
	ck_assert_int_eq(cfg.auth_mode, AUTH_MODE_API_KEY);
	ck_assert_str_eq(cfg.api_keys_file, "/etc/mab/keys");
	ck_assert(cfg.http_behind_proxy);
	ck_assert_uint_eq(cfg.http_allowed_origins.n, 2);
	ck_assert_str_eq(cfg.http_allowed_origins.v[0], "https://app.example");
	ck_assert_str_eq(cfg.http_allowed_hosts.v[0], "mcp.example:443");
	ck_assert_int_eq(cfg.http_request_timeout_s, 5);
	ck_assert_int_eq(cfg.http_metrics, HTTP_METRICS_ON);
	ck_assert_int_eq(cfg.http_ready_cache_s, 0);
	config_free(&cfg);
	ck_assert_uint_eq(load(&cfg, metrics_off, &errs), 0);
	ck_assert_int_eq(cfg.http_metrics, HTTP_METRICS_OFF);
	config_free(&cfg);
}
END_TEST

START_TEST(http_bad_values)
{
	char *oauth[] = { P "AUTH_MODE=oauth", NULL };
	char *unknown[] = { P "AUTH_MODE=basic", NULL };
	char *no_file[] = { P "AUTH_MODE=api_key", NULL };
	char *relative[] = { P "API_KEYS_FILE=keys", NULL };
	char *origin[] = { P "HTTP_ALLOWED_ORIGINS=https://a.example/path", NULL };
	char *host[] = { P "HTTP_ALLOWED_HOSTS=a.example/x", NULL };
	char *conns[] = { P "HTTP_MAX_CONNECTIONS=0", NULL };
	char *metrics[] = { P "HTTP_METRICS=yes", NULL };
	char *ready[] = { P "HTTP_READY_CACHE_SECONDS=301", NULL };

	char *oauth_only[] = { P "OAUTH_REQUIRED_SCOPES=mcp.call", NULL };
	char *resource[] = { P "RESOURCE_SERVER_URL=ftp://mcp.example/mcp", NULL };
	char *resource_user[] = { P "RESOURCE_SERVER_URL=https://u@mcp.example/mcp", NULL };
	char *jwks[] = { P "OAUTH_JWKS_URI=http://keys.example/jwks", NULL };
	char *role_two[] = { P "MUTATIONS_REQUIRED_ROLE=a,b", NULL };
	char *path_role[] = { P "ALLOWED_PATHS=GET:/v1.0/users", P "PATH_ROLES=GET:/v1.0/groups=R", NULL };
	char *path_role_bad[] = { P "PATH_ROLES=GET:/v1.0/users", NULL };

	/* smoke mode never fetches keys: oauth there could never admit anyone */
	assert_one_error(oauth, P "AUTH_MODE", "smoke mode");
	assert_one_error(unknown, P "AUTH_MODE", "not one of none, api_key, oauth, hybrid");
	assert_one_error(oauth_only, P "OAUTH_REQUIRED_SCOPES", "neither oauth nor hybrid");
	assert_one_error(resource, P "RESOURCE_SERVER_URL", "must start with https://");
	assert_one_error(resource_user, P "RESOURCE_SERVER_URL", "no user");
	assert_one_error(jwks, P "OAUTH_JWKS_URI", "must start with https://");
	assert_one_error(role_two, P "MUTATIONS_REQUIRED_ROLE", "name one role");
	assert_one_error(path_role, P "PATH_ROLES", "is not an entry of MCP_AUTH_BROKER_ALLOWED_PATHS");
	assert_one_error(path_role_bad, P "PATH_ROLES", "is not RULE=ROLE");
	assert_one_error(no_file, P "API_KEYS_FILE", "is required");
	assert_one_error(relative, P "API_KEYS_FILE", "not an absolute path");
	assert_one_error(origin, P "HTTP_ALLOWED_ORIGINS", "not an origin");
	assert_one_error(host, P "HTTP_ALLOWED_HOSTS", "not a host");
	assert_one_error(conns, P "HTTP_MAX_CONNECTIONS", "out of range");
	assert_one_error(metrics, P "HTTP_METRICS", "not one of off, loopback, on");
	assert_one_error(ready, P "HTTP_READY_CACHE_SECONDS", "out of range");
}
END_TEST

/* Which names tools/list offers; both sets stay callable either way. */
START_TEST(tool_names_values)
{
	char *original[] = { P "TOOL_NAMES=original", NULL };
	char *short_names[] = { P "TOOL_NAMES=short", NULL };
	struct config cfg;
	struct config_errors errs;

	ck_assert_uint_eq(load(&cfg, original, &errs), 0);
	ck_assert_int_eq(cfg.tool_names, TOOL_NAMES_ORIGINAL);
	config_free(&cfg);
	ck_assert_uint_eq(load(&cfg, short_names, &errs), 0);
	ck_assert_int_eq(cfg.tool_names, TOOL_NAMES_SHORT);
	config_free(&cfg);
}
END_TEST

START_TEST(real_mode_values)
{
	char *env[] = { P "ENV=prod", P "TENANT_ID=contoso.onmicrosoft.com",
		P "GRAPH_CLIENT_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		P "ALLOWED_GRAPH_RESOURCES=HTTPS://Graph.Microsoft.com/, https://127.0.0.1:8443",
		P "ALLOWED_SCOPES=User.Read.All Mail.Read", P "SECRET_PROVIDER=none",
		P "ENABLE_MUTATIONS=yes", P "ALLOWED_PATHS=GET:/v1.0/users/*,/beta/me",
		P "LOG_LEVEL=debug", P "TOKEN_MAX_TTL_SECONDS=600", NULL };
	struct config cfg;
	struct config_errors errs;

	ck_assert_uint_eq(load(&cfg, env, &errs), 0);
	ck_assert_int_eq(cfg.env, BROKER_ENV_PROD);
	ck_assert_str_eq(cfg.resources.v[0], "https://graph.microsoft.com");
	ck_assert_str_eq(cfg.resources.v[1], "https://127.0.0.1:8443");
	ck_assert_uint_eq(cfg.scopes.n, 2);
	ck_assert(config_scope_allowed(&cfg, "user.read.all"));
	ck_assert(!config_scope_allowed(&cfg, "Mail.ReadWrite"));
	ck_assert(cfg.enable_mutations);
	ck_assert_uint_eq(cfg.n_paths, 2);
	ck_assert_str_eq(cfg.paths[0].method, "GET");
	ck_assert_str_eq(cfg.paths[0].pattern, "/v1.0/users/*");
	ck_assert_ptr_null(cfg.paths[1].method);
	ck_assert_int_eq(cfg.log_level, LOG_LEVEL_DEBUG);
	ck_assert_int_eq(cfg.token_max_ttl_s, 600);
	config_free(&cfg);
}
END_TEST

START_TEST(real_mode_requires_identity)
{
	char *env[] = { P "ENV=prod", NULL };
	struct config cfg;
	struct config_errors errs;
	static const char *required[] = { P "TENANT_ID", P "GRAPH_CLIENT_ID",
		P "ALLOWED_GRAPH_RESOURCES", P "ALLOWED_SCOPES" };

	ck_assert_uint_eq(load(&cfg, env, &errs), 4);
	for (size_t i = 0; i < 4; i++)
		ck_assert_msg(strncmp(errs.v[i], required[i], strlen(required[i])) == 0, "%s",
		    errs.v[i]);
	config_errors_free(&errs);
}
END_TEST

START_TEST(secret_ref_required_with_provider)
{
	char *env[] = { P "ENV=dev", P "TENANT_ID=contoso.example",
		P "GRAPH_CLIENT_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		P "ALLOWED_GRAPH_RESOURCES=https://graph.microsoft.com", P "ALLOWED_SCOPES=x",
		P "SECRET_PROVIDER=1password", NULL };

	assert_one_error(env, P "GRAPH_SECRET_REF", "required");
}
END_TEST

#define REAL_ENV                                                                              \
	P "ENV=dev", P "TENANT_ID=contoso.example",                                          \
	    P "GRAPH_CLIENT_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",                          \
	    P "ALLOWED_GRAPH_RESOURCES=https://graph.microsoft.com", P "ALLOWED_SCOPES=x"

START_TEST(credential_kinds)
{
	char *bogus[] = { REAL_ENV, P "GRAPH_CREDENTIAL=password", NULL };
	char *no_ref[] = { REAL_ENV, P "SECRET_PROVIDER=file", P "GRAPH_CREDENTIAL=certificate", NULL };
	char *no_provider[] = { REAL_ENV, P "GRAPH_CREDENTIAL=certificate",
		P "GRAPH_CERTIFICATE_REF=/etc/broker.pem", NULL };
	char *both[] = { REAL_ENV, P "SECRET_PROVIDER=file", P "GRAPH_CREDENTIAL=certificate",
		P "GRAPH_CERTIFICATE_REF=/etc/broker.pem", P "GRAPH_SECRET_REF=/etc/secret", NULL };
	char *stray[] = { REAL_ENV, P "SECRET_PROVIDER=file", P "GRAPH_SECRET_REF=/etc/secret",
		P "GRAPH_CERTIFICATE_REF=/etc/broker.pem", NULL };
	char *bad_shape[] = { REAL_ENV, P "SECRET_PROVIDER=1password",
		P "GRAPH_CREDENTIAL=certificate", P "GRAPH_CERTIFICATE_REF=/etc/broker.pem", NULL };

	assert_one_error(bogus, P "GRAPH_CREDENTIAL", "not one of secret, certificate");
	assert_one_error(no_ref, P "GRAPH_CERTIFICATE_REF", "required");
	assert_one_error(no_provider, P "GRAPH_CREDENTIAL", "needs MCP_AUTH_BROKER_SECRET_PROVIDER");
	assert_one_error(both, P "GRAPH_SECRET_REF", "set, but");
	assert_one_error(stray, P "GRAPH_CERTIFICATE_REF", "set, but");
	assert_one_error(bad_shape, P "GRAPH_CERTIFICATE_REF", "not a 1Password secret reference");
}
END_TEST

/* A managed identity: IMDS unless IDENTITY_ENDPOINT names the App Service
 * agent, whose header becomes the env provider's secret (secretd's alone);
 * no secret setting of the other kinds; endpoints off this host refused. */
START_TEST(managed_identity)
{
	char *imds[] = { REAL_ENV, P "GRAPH_CREDENTIAL=managed_identity",
		P "MANAGED_IDENTITY_CLIENT_ID=3c9b1f4e-2a6d-4b8e-9f70-1d2e3c4b5a69", NULL };
	char *agent[] = { REAL_ENV, P "GRAPH_CREDENTIAL=managed_identity",
		"IDENTITY_ENDPOINT=http://localhost:4141/msi/token", "IDENTITY_HEADER=h", NULL };
	char *agent_bad[] = { REAL_ENV, P "GRAPH_CREDENTIAL=managed_identity",
		"IDENTITY_ENDPOINT=http://10.0.0.4:4141/msi/token", NULL };
	char *secret[] = { REAL_ENV, P "GRAPH_CREDENTIAL=managed_identity",
		P "GRAPH_SECRET_REF=/etc/secret", NULL };
	char *provider[] = { REAL_ENV, P "GRAPH_CREDENTIAL=managed_identity",
		P "SECRET_PROVIDER=file", NULL };
	char *stray[] = { REAL_ENV, P "SECRET_PROVIDER=file", P "GRAPH_SECRET_REF=/etc/secret",
		P "MANAGED_IDENTITY_ENDPOINT=http://127.0.0.1:1/t", NULL };
	char *https[] = { REAL_ENV, P "GRAPH_CREDENTIAL=managed_identity",
		P "MANAGED_IDENTITY_ENDPOINT=https://169.254.169.254/metadata/identity/oauth2/token",
		NULL };
	char *remote[] = { REAL_ENV, P "GRAPH_CREDENTIAL=managed_identity",
		P "MANAGED_IDENTITY_ENDPOINT=http://example.com/token", NULL };
	char *guid[] = { REAL_ENV, P "GRAPH_CREDENTIAL=managed_identity",
		P "MANAGED_IDENTITY_CLIENT_ID=mine", NULL };
	struct config cfg;
	struct config_errors errs;

	ck_assert_uint_eq(load(&cfg, imds, &errs), 0);
	ck_assert_int_eq(cfg.graph_credential, GRAPH_CREDENTIAL_MANAGED_IDENTITY);
	ck_assert_str_eq(cfg.mi_endpoint, "http://169.254.169.254/metadata/identity/oauth2/token");
	ck_assert(!cfg.mi_app_service);
	ck_assert_int_eq(cfg.secret_provider, SECRET_PROVIDER_NONE);
	ck_assert_ptr_null(cfg.secret_ref);
	ck_assert_str_eq(cfg.mi_client_id, "3c9b1f4e-2a6d-4b8e-9f70-1d2e3c4b5a69");
	ck_assert_str_eq(config_credential_name(cfg.graph_credential), "managed_identity");
	ck_assert(config_is_child_var(&cfg, "IDENTITY_ENDPOINT=http://127.0.0.1/x"));
	ck_assert(!config_is_child_var(&cfg, "IDENTITY_HEADER=h"));
	config_free(&cfg);
	ck_assert_uint_eq(load(&cfg, agent, &errs), 0);
	ck_assert(cfg.mi_app_service);
	ck_assert_str_eq(cfg.mi_endpoint, "http://localhost:4141/msi/token");
	ck_assert_int_eq(cfg.secret_provider, SECRET_PROVIDER_ENV);
	ck_assert_str_eq(cfg.secret_ref, "IDENTITY_HEADER");
	config_free(&cfg);
	assert_one_error(agent_bad, "IDENTITY_ENDPOINT", "not on a link-local");
	assert_one_error(secret, P "GRAPH_SECRET_REF", "set, but");
	assert_one_error(provider, P "SECRET_PROVIDER", "needs no secret provider");
	assert_one_error(stray, P "MANAGED_IDENTITY_ENDPOINT", "set, but");
	assert_one_error(https, P "MANAGED_IDENTITY_ENDPOINT", "not an http:// URL");
	assert_one_error(remote, P "MANAGED_IDENTITY_ENDPOINT", "not on a link-local");
	assert_one_error(guid, P "MANAGED_IDENTITY_CLIENT_ID", "not a client id");
}
END_TEST

/* Only a literal link-local or loopback host: no name DNS could move. */
START_TEST(mi_endpoint_shapes)
{
	static const char *good[] = { "http://169.254.169.254/metadata/identity/oauth2/token",
		"http://127.0.0.1:41741/msi/token", "http://localhost:4141/msi/token",
		"http://[::1]:8080/t", "http://[fe80::1]/t", "http://127.5.6.7/" };
	static const char *bad[] = { "https://169.254.169.254/t", "http://10.0.0.1/t",
		"http://example.com/t", "http://169.254.169.254.nip.io/t", "http://[2001:db8::1]/t",
		"http://u@127.0.0.1/t", "http://127.0.0.1/t?a=b", "http://127.0.0.1/t#f",
		"http://127.0.0.1", "http://127.0.0.1:0/t", "http://127.0.0.1:99999/t",
		"http://127.0.0.1:8a/t", "http://127.0.0.1/ t", "http://[::1/t", "http://[::1]x/t",
		"http://0x7f.1/t", "http://2130706433/t", "" };
	struct mi_endpoint ep;
	const char *why;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(mi_endpoint_parse(good[i], &ep, &why), "%s refused", good[i]);
	ck_assert(mi_endpoint_parse("http://localhost:4141/msi/token", &ep, &why));
	ck_assert(ep.localhost);
	ck_assert_int_eq(ep.port, 4141);
	ck_assert(mi_endpoint_parse("http://169.254.169.254/x", &ep, &why));
	ck_assert_int_eq(ep.port, 80);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!mi_endpoint_parse(bad[i], &ep, &why), "%s accepted", bad[i]);
}
END_TEST

/* federated: the token file from AZURE_FEDERATED_TOKEN_FILE, no provider;
 * the webhook's AZURE_* identity fills what our own variables leave unset,
 * with this credential only. */
START_TEST(federated_credential)
{
	char *ok[] = { REAL_ENV, P "GRAPH_CREDENTIAL=federated",
		"AZURE_FEDERATED_TOKEN_FILE=/var/run/secrets/azure/tokens/azure-identity-token", NULL };
	char *webhook[] = { P "ENV=dev", P "ALLOWED_GRAPH_RESOURCES=https://graph.microsoft.com",
		P "ALLOWED_SCOPES=x", P "GRAPH_CREDENTIAL=federated",
		"AZURE_FEDERATED_TOKEN_FILE=/t", "AZURE_CLIENT_ID=11111111-2222-3333-4444-555555555555",
		"AZURE_TENANT_ID=fabrikam.example", "AZURE_AUTHORITY_HOST=https://login.microsoftonline.us/",
		NULL };
	char *ours_win[] = { REAL_ENV, P "GRAPH_CREDENTIAL=federated", "AZURE_FEDERATED_TOKEN_FILE=/t",
		"AZURE_CLIENT_ID=11111111-2222-3333-4444-555555555555", "AZURE_TENANT_ID=fabrikam.example",
		NULL };
	char *secret_kind[] = { P "ENV=dev", P "ALLOWED_GRAPH_RESOURCES=https://graph.microsoft.com",
		P "ALLOWED_SCOPES=x", P "TENANT_ID=contoso.example",
		"AZURE_CLIENT_ID=11111111-2222-3333-4444-555555555555", NULL };
	char *missing[] = { REAL_ENV, P "GRAPH_CREDENTIAL=federated", NULL };
	char *relative[] = { REAL_ENV, P "GRAPH_CREDENTIAL=federated",
		"AZURE_FEDERATED_TOKEN_FILE=tokens/t", NULL };
	char *provider[] = { REAL_ENV, P "GRAPH_CREDENTIAL=federated", "AZURE_FEDERATED_TOKEN_FILE=/t",
		P "SECRET_PROVIDER=env", NULL };
	char *ref[] = { REAL_ENV, P "GRAPH_CREDENTIAL=federated", "AZURE_FEDERATED_TOKEN_FILE=/t",
		P "GRAPH_SECRET_REF=/etc/secret", NULL };
	char *bad_authority[] = { REAL_ENV, P "GRAPH_CREDENTIAL=federated",
		"AZURE_FEDERATED_TOKEN_FILE=/t", "AZURE_AUTHORITY_HOST=http://login.example/", NULL };
	struct config cfg;
	struct config_errors errs;

	ck_assert_uint_eq(load(&cfg, ok, &errs), 0);
	ck_assert_int_eq(cfg.graph_credential, GRAPH_CREDENTIAL_FEDERATED);
	ck_assert_str_eq(cfg.federated_token_file,
	    "/var/run/secrets/azure/tokens/azure-identity-token");
	ck_assert_ptr_null(cfg.secret_ref);
	ck_assert_str_eq(config_credential_name(cfg.graph_credential), "federated");
	ck_assert(config_credential_is_assertion(cfg.graph_credential));
	ck_assert(!config_credential_is_assertion(GRAPH_CREDENTIAL_SECRET));
	config_free(&cfg);

	ck_assert_uint_eq(load(&cfg, webhook, &errs), 0);
	ck_assert_str_eq(cfg.client_id, "11111111-2222-3333-4444-555555555555");
	ck_assert_str_eq(cfg.tenant_id, "fabrikam.example");
	ck_assert_str_eq(cfg.authority, "https://login.microsoftonline.us");
	config_free(&cfg);

	ck_assert_uint_eq(load(&cfg, ours_win, &errs), 0);
	ck_assert_str_eq(cfg.client_id, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
	ck_assert_str_eq(cfg.tenant_id, "contoso.example");
	config_free(&cfg);

	assert_one_error(secret_kind, P "GRAPH_CLIENT_ID", "required");
	assert_one_error(missing, "AZURE_FEDERATED_TOKEN_FILE", "required");
	assert_one_error(relative, "AZURE_FEDERATED_TOKEN_FILE", "not an absolute path");
	assert_one_error(provider, P "SECRET_PROVIDER", "set, but");
	assert_one_error(ref, P "GRAPH_SECRET_REF", "set, but");
	assert_one_error(bad_authority, "AZURE_AUTHORITY_HOST", "must start with https://");
	ck_assert(config_is_broker_var("AZURE_FEDERATED_TOKEN_FILE=/t"));
	ck_assert(config_is_broker_var("AZURE_AUTHORITY_HOST=https://x/"));
	ck_assert(!config_is_broker_var("AZURE_CLIENT_SECRET=x"));
	ck_assert(!config_env_ref_valid("AZURE_CLIENT_ID"));
}
END_TEST

/* The certificate reference becomes the one reference secretd resolves;
 * smoke mode's built-in secret stands in for every kind. */
START_TEST(certificate_ref_is_the_resolved_reference)
{
	char *env[] = { REAL_ENV, P "SECRET_PROVIDER=file", P "GRAPH_CREDENTIAL=certificate",
		P "GRAPH_CERTIFICATE_REF=graph-cert", NULL };
	char *smoke[] = { P "GRAPH_CREDENTIAL=certificate", NULL };
	struct config cfg;
	struct config_errors errs;

	ck_assert_uint_eq(load(&cfg, env, &errs), 0);
	ck_assert_int_eq(cfg.graph_credential, GRAPH_CREDENTIAL_CERTIFICATE);
	ck_assert_str_eq(cfg.secret_ref, "graph-cert");
	ck_assert_str_eq(config_credential_name(cfg.graph_credential), "certificate");
	config_free(&cfg);
	ck_assert_uint_eq(load(&cfg, smoke, &errs), 0);
	ck_assert_int_eq(cfg.graph_credential, GRAPH_CREDENTIAL_SECRET);
	config_free(&cfg);
}
END_TEST

/* The algorithm and the passphrase belong to the certificate credential:
 * RS256 unless PS256 is asked for, exact names, and refused with a secret. */
START_TEST(certificate_algorithm_and_passphrase)
{
#define CERT P "SECRET_PROVIDER=file", P "GRAPH_CREDENTIAL=certificate", \
	     P "GRAPH_CERTIFICATE_REF=/etc/broker.pem"
	char *dflt[] = { REAL_ENV, CERT, NULL };
	char *ps[] = { REAL_ENV, CERT, P "GRAPH_ASSERTION_ALGORITHM=PS256",
		P "GRAPH_CERTIFICATE_PASSPHRASE_REF=graph-cert-pass", NULL };
	char *lower[] = { REAL_ENV, CERT, P "GRAPH_ASSERTION_ALGORITHM=ps256", NULL };
	char *es[] = { REAL_ENV, CERT, P "GRAPH_ASSERTION_ALGORITHM=ES256", NULL };
	char *alg_secret[] = { REAL_ENV, P "SECRET_PROVIDER=file", P "GRAPH_SECRET_REF=/etc/s",
		P "GRAPH_ASSERTION_ALGORITHM=RS256", NULL };
	char *pass_secret[] = { REAL_ENV, P "SECRET_PROVIDER=file", P "GRAPH_SECRET_REF=/etc/s",
		P "GRAPH_CERTIFICATE_PASSPHRASE_REF=/etc/p", NULL };
	char *pass_shape[] = { REAL_ENV, P "SECRET_PROVIDER=1password",
		P "GRAPH_CREDENTIAL=certificate", P "GRAPH_CERTIFICATE_REF=op://v/i/pem",
		P "GRAPH_CERTIFICATE_PASSPHRASE_REF=/etc/p", NULL };
	char *pass_empty[] = { REAL_ENV, CERT, P "GRAPH_CERTIFICATE_PASSPHRASE_REF=", NULL };
	struct config cfg;
	struct config_errors errs;

	ck_assert_uint_eq(load(&cfg, dflt, &errs), 0);
	ck_assert_int_eq(cfg.assertion_alg, ASSERTION_ALG_RS256);
	ck_assert_ptr_null(cfg.certificate_passphrase_ref);
	ck_assert_str_eq(config_assertion_alg_name(cfg.assertion_alg), "RS256");
	config_free(&cfg);
	ck_assert_uint_eq(load(&cfg, ps, &errs), 0);
	ck_assert_int_eq(cfg.assertion_alg, ASSERTION_ALG_PS256);
	ck_assert_str_eq(config_assertion_alg_name(cfg.assertion_alg), "PS256");
	ck_assert_str_eq(cfg.certificate_passphrase_ref, "graph-cert-pass");
	ck_assert_str_eq(cfg.secret_ref, "/etc/broker.pem"); /* still the one secret ref */
	config_free(&cfg);
	assert_one_error(lower, P "GRAPH_ASSERTION_ALGORITHM", "'ps256' is not one of RS256, PS256");
	assert_one_error(es, P "GRAPH_ASSERTION_ALGORITHM", "'ES256' is not one of RS256, PS256");
	assert_one_error(alg_secret, P "GRAPH_ASSERTION_ALGORITHM", "set, but");
	assert_one_error(pass_secret, P "GRAPH_CERTIFICATE_PASSPHRASE_REF", "set, but");
	assert_one_error(pass_shape, P "GRAPH_CERTIFICATE_PASSPHRASE_REF",
	    "not a 1Password secret reference");
	assert_one_error(pass_empty, P "GRAPH_CERTIFICATE_PASSPHRASE_REF", "not a usable");
#undef CERT
}
END_TEST

START_TEST(bad_values_named)
{
	static const struct {
		const char *entry, *var, *why;
	} cases[] = {
		{ P "ENV=bogus", P "ENV", "not one of" },
		{ P "TOKEN_MAX_TTL_SECONDS=abc", P "TOKEN_MAX_TTL_SECONDS", "not a whole number" },
		{ P "TOKEN_MAX_TTL_SECONDS=-5", P "TOKEN_MAX_TTL_SECONDS", "not a whole number" },
		{ P "TOKEN_MAX_TTL_SECONDS=10", P "TOKEN_MAX_TTL_SECONDS", "out of range" },
		{ P "TOKEN_MAX_TTL_SECONDS=99999999999999999999", P "TOKEN_MAX_TTL_SECONDS",
		    "not a whole number" },
		{ P "TOKEN_CACHE_SKEW_SECONDS=1 0", P "TOKEN_CACHE_SKEW_SECONDS", "whole number" },
		{ P "TOKEN_PROVIDER_TIMEOUT_SECONDS=0", P "TOKEN_PROVIDER_TIMEOUT_SECONDS",
		    "out of range" },
		{ P "ENABLE_MUTATIONS=maybe", P "ENABLE_MUTATIONS", "not a boolean" },
		{ P "ALLOWED_GRAPH_RESOURCES=http://graph.microsoft.com", P "ALLOWED_GRAPH_RESOURCES",
		    "https://" },
		{ P "ALLOWED_GRAPH_RESOURCES=https://graph.microsoft.com/v1.0",
		    P "ALLOWED_GRAPH_RESOURCES", "no path" },
		{ P "ALLOWED_GRAPH_RESOURCES=https://user@graph.microsoft.com",
		    P "ALLOWED_GRAPH_RESOURCES", "no path, query or user" },
		{ P "ALLOWED_GRAPH_RESOURCES= , ", P "ALLOWED_GRAPH_RESOURCES", "empty" },
		{ P "ALLOWED_SCOPES=", P "ALLOWED_SCOPES", "empty" },
		{ P "ALLOWED_PATHS=/users/*", P "ALLOWED_PATHS", "/v1.0/ or /beta/" },
		{ P "ALLOWED_PATHS=FETCH:/v1.0/users", P "ALLOWED_PATHS", "method must be" },
		{ P "TENANT_ID=common", P "TENANT_ID", "one tenant" },
		{ P "TENANT_ID=contoso/evil", P "TENANT_ID", "not a tenant id" },
		{ P "GRAPH_CLIENT_ID=not-a-guid", P "GRAPH_CLIENT_ID", "GUID" },
		{ P "SECRET_PROVIDER=vault", P "SECRET_PROVIDER", "not one of" },
		{ P "AUTHORITY=http://login.example", P "AUTHORITY", "https://" },
		{ P "CA_FILE=relative.pem", P "CA_FILE", "absolute path" },
		{ P "AUDIT_FILE=audit.log", P "AUDIT_FILE", "absolute path" },
		{ P "LOG_LEVEL=loud", P "LOG_LEVEL", "not one of" },
		{ P "TOOL_NAMES=dotted", P "TOOL_NAMES", "not one of short, original" },
		{ P "TOOL_NAMES=", P "TOOL_NAMES", "not one of short, original" },
		{ P "TOOL_NAMES=Short", P "TOOL_NAMES", "not one of short, original" },
		{ P "MAX_MESSAGE_BYTES=100", P "MAX_MESSAGE_BYTES", "out of range" },
		{ P "MAX_RESPONSE_BYTES=999999999", P "MAX_RESPONSE_BYTES", "out of range" },
		{ P "ALLOWED_PATH=/v1.0/x", P "ALLOWED_PATH", "unknown variable" },
		{ P "GRAPH_SECRET_REF=", P "GRAPH_SECRET_REF", "not a usable" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *env[] = { (char *)cases[i].entry, NULL };
		assert_one_error(env, cases[i].var, cases[i].why);
	}
}
END_TEST

/* The unix-socket transport's settings (brokerd --listen). */
START_TEST(transport_values)
{
	char *defaults[] = { "PATH=/bin", NULL };
	char *env[] = { P "ALLOWED_UIDS=1000, 0 4294967294", P "ALLOWED_GIDS=100",
		P "SOCKET_GROUP=mcp-clients", P "SHUTDOWN_GRACE_SECONDS=0", NULL };
	struct config cfg;
	struct config_errors errs;

	ck_assert_uint_eq(load(&cfg, defaults, &errs), 0);
	ck_assert_uint_eq(cfg.n_allowed_uids, 0); /* brokerd allows its own uid */
	ck_assert_uint_eq(cfg.n_allowed_gids, 0);
	ck_assert_ptr_null(cfg.socket_group);
	ck_assert_int_eq(cfg.shutdown_grace_s, 10);
	config_free(&cfg);
	ck_assert_uint_eq(load(&cfg, env, &errs), 0);
	ck_assert_uint_eq(cfg.n_allowed_uids, 3);
	ck_assert_uint_eq(cfg.allowed_uids[0], 1000);
	ck_assert_uint_eq(cfg.allowed_uids[1], 0);
	ck_assert_uint_eq(cfg.allowed_uids[2], 4294967294u);
	ck_assert_uint_eq(cfg.n_allowed_gids, 1);
	ck_assert_uint_eq(cfg.allowed_gids[0], 100);
	ck_assert_str_eq(cfg.socket_group, "mcp-clients");
	ck_assert_int_eq(cfg.shutdown_grace_s, 0);
	config_free(&cfg);
}
END_TEST

/* What one client may make brokerd hold (issue 9): unread answers, sessions
 * per uid, idle time.  The output cap follows MAX_RESPONSE_BYTES unless set. */
START_TEST(session_bounds_values)
{
	char *defaults[] = { "PATH=/bin", NULL };
	char *big[] = { P "MAX_RESPONSE_BYTES=12582912", NULL };
	char *set[] = { P "MAX_RESPONSE_BYTES=1024", P "SESSION_MAX_OUTPUT_BYTES=68608",
		P "MAX_SESSIONS_PER_UID=1", P "SESSION_IDLE_TIMEOUT_SECONDS=86400", NULL };
	struct config cfg;
	struct config_errors errs;

	ck_assert_uint_eq(load(&cfg, defaults, &errs), 0);
	ck_assert_int_eq(cfg.session_max_output_bytes, 16L * 1024 * 1024);
	ck_assert_int_eq(cfg.max_sessions_per_uid, 32);
	ck_assert_int_eq(cfg.session_idle_timeout_s, 300);
	config_free(&cfg);
	ck_assert_uint_eq(load(&cfg, big, &errs), 0);
	ck_assert_int_eq(cfg.session_max_output_bytes, 3L * 12582912 + 65536);
	config_free(&cfg);
	ck_assert_uint_eq(load(&cfg, set, &errs), 0);
	ck_assert_int_eq(cfg.session_max_output_bytes, 68608);
	ck_assert_int_eq(cfg.max_sessions_per_uid, 1);
	ck_assert_int_eq(cfg.session_idle_timeout_s, 86400);
	config_free(&cfg);
}
END_TEST

START_TEST(session_bounds_bad_values_named)
{
	static const struct {
		const char *entry, *var, *why;
	} cases[] = {
		{ P "SESSION_MAX_OUTPUT_BYTES=4096", P "SESSION_MAX_OUTPUT_BYTES", "out of range" },
		{ P "SESSION_MAX_OUTPUT_BYTES=lots", P "SESSION_MAX_OUTPUT_BYTES", "not a whole number" },
		/* Less than one answer with the default MAX_RESPONSE_BYTES (4 MiB). */
		{ P "SESSION_MAX_OUTPUT_BYTES=8388608", P "SESSION_MAX_OUTPUT_BYTES",
		    "MCP_AUTH_BROKER_MAX_RESPONSE_BYTES=4194304" },
		{ P "MAX_SESSIONS_PER_UID=0", P "MAX_SESSIONS_PER_UID", "out of range" },
		{ P "MAX_SESSIONS_PER_UID=257", P "MAX_SESSIONS_PER_UID", "out of range" },
		{ P "SESSION_IDLE_TIMEOUT_SECONDS=0", P "SESSION_IDLE_TIMEOUT_SECONDS", "out of range" },
		{ P "SESSION_IDLE_TIMEOUT_SECONDS=1m", P "SESSION_IDLE_TIMEOUT_SECONDS",
		    "not a whole number" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *env[] = { (char *)cases[i].entry, NULL };
		assert_one_error(env, cases[i].var, cases[i].why);
	}
}
END_TEST

START_TEST(transport_bad_values_named)
{
	static const struct {
		const char *entry, *var, *why;
	} cases[] = {
		{ P "ALLOWED_UIDS=alice", P "ALLOWED_UIDS", "not a whole number" },
		{ P "ALLOWED_UIDS=-1", P "ALLOWED_UIDS", "not a whole number" },
		{ P "ALLOWED_UIDS=4294967295", P "ALLOWED_UIDS", "out of range" },
		{ P "ALLOWED_UIDS= ,", P "ALLOWED_UIDS", "empty" },
		{ P "ALLOWED_GIDS=12x", P "ALLOWED_GIDS", "not a whole number" },
		{ P "SOCKET_GROUP=", P "SOCKET_GROUP", "not a group" },
		{ P "SOCKET_GROUP=-oops", P "SOCKET_GROUP", "not a group" },
		{ P "SOCKET_GROUP=a b", P "SOCKET_GROUP", "not a group" },
		{ P "SHUTDOWN_GRACE_SECONDS=301", P "SHUTDOWN_GRACE_SECONDS", "out of range" },
		{ P "SHUTDOWN_GRACE_SECONDS=soon", P "SHUTDOWN_GRACE_SECONDS", "not a whole number" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *env[] = { (char *)cases[i].entry, NULL };
		assert_one_error(env, cases[i].var, cases[i].why);
	}
}
END_TEST

START_TEST(skew_below_ttl)
{
	char *env[] = { P "TOKEN_CACHE_SKEW_SECONDS=600", P "TOKEN_MAX_TTL_SECONDS=600", NULL };

	assert_one_error(env, P "TOKEN_CACHE_SKEW_SECONDS", "less than");
}
END_TEST

START_TEST(all_problems_reported)
{
	char *env[] = { P "ENV=bogus", P "ENABLE_MUTATIONS=maybe", P "LOG_LEVEL=loud",
		P "NOT_A_THING=1", NULL };
	struct config cfg;
	struct config_errors errs;

	ck_assert_uint_eq(load(&cfg, env, &errs), 4);
	config_errors_free(&errs);
}
END_TEST

START_TEST(other_variables_ignored)
{
	char *env[] = { "HOME=/root", "OP_SERVICE_ACCOUNT_TOKEN=ops_x", "MCP_AUTH_BROKERX=1", NULL };
	struct config cfg;
	struct config_errors errs;

	ck_assert_uint_eq(load(&cfg, env, &errs), 0);
	config_free(&cfg);
}
END_TEST

START_TEST(policy_version_tracks_policy)
{
	char *a[] = { P "ALLOWED_SCOPES=User.Read.All", NULL };
	char *b[] = { P "ALLOWED_SCOPES=User.Read.All,Mail.Read", NULL };
	char *c[] = { P "ALLOWED_SCOPES=User.Read.All", P "LOG_LEVEL=debug", NULL };
	struct config ca, cb, cc;
	struct config_errors errs;

	ck_assert_uint_eq(load(&ca, a, &errs), 0);
	ck_assert_uint_eq(load(&cb, b, &errs), 0);
	ck_assert_uint_eq(load(&cc, c, &errs), 0);
	ck_assert_str_ne(ca.policy_version, cb.policy_version);
	/* The log level is not policy. */
	ck_assert_str_eq(ca.policy_version, cc.policy_version);
	config_free(&ca);
	config_free(&cb);
	config_free(&cc);
}
END_TEST

/* A dev configuration with this provider and reference (and one more entry). */
#define DEV_ENV(provider, ref, extra)                                                            \
	{ P "ENV=dev", P "TENANT_ID=contoso.example",                                            \
		P "GRAPH_CLIENT_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",                        \
		P "ALLOWED_GRAPH_RESOURCES=https://graph.microsoft.com", P "ALLOWED_SCOPES=x",  \
		P "SECRET_PROVIDER=" provider, P "GRAPH_SECRET_REF=" ref, extra, NULL }

START_TEST(secret_settings)
{
	char *env[] = DEV_ENV("command", "graph", P "SECRET_HELPER=/usr/local/bin/get-secret");
	char *env2[] = { P "SECRET_TIMEOUT_SECONDS=120", P "SECRET_CACHE_SECONDS=0",
		P "OP_PATH=/opt/op/op", NULL };
	struct config cfg;
	struct config_errors errs;

	ck_assert_uint_eq(load(&cfg, env, &errs), 0);
	ck_assert_int_eq(cfg.secret_provider, SECRET_PROVIDER_COMMAND);
	ck_assert_int_eq(cfg.secret_timeout_s, 5);
	ck_assert_int_eq(cfg.secret_cache_s, 300);
	ck_assert_ptr_null(cfg.op_path);
	ck_assert_str_eq(cfg.secret_helper, "/usr/local/bin/get-secret");
	config_free(&cfg);
	ck_assert_uint_eq(load(&cfg, env2, &errs), 0);
	ck_assert_int_eq(cfg.secret_timeout_s, 120);
	ck_assert_int_eq(cfg.secret_cache_s, 0);
	ck_assert_str_eq(cfg.op_path, "/opt/op/op");
	config_free(&cfg);
}
END_TEST

START_TEST(secret_settings_bad_values)
{
	static const struct {
		const char *entry, *var, *why;
	} cases[] = {
		{ P "SECRET_TIMEOUT_SECONDS=0", P "SECRET_TIMEOUT_SECONDS", "out of range" },
		{ P "SECRET_TIMEOUT_SECONDS=121", P "SECRET_TIMEOUT_SECONDS", "out of range" },
		{ P "SECRET_TIMEOUT_SECONDS=5s", P "SECRET_TIMEOUT_SECONDS", "whole number" },
		{ P "SECRET_CACHE_SECONDS=-1", P "SECRET_CACHE_SECONDS", "whole number" },
		{ P "SECRET_CACHE_SECONDS=86401", P "SECRET_CACHE_SECONDS", "out of range" },
		{ P "OP_PATH=op", P "OP_PATH", "absolute path" },
		{ P "SECRET_HELPER=bin/get-secret", P "SECRET_HELPER", "absolute path" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *env[] = { (char *)cases[i].entry, NULL };
		assert_one_error(env, cases[i].var, cases[i].why);
	}
}
END_TEST

/* Each provider's reference is checked for its shape at start. */
START_TEST(secret_ref_shapes)
{
	static const struct {
		const char *provider, *ref;
		bool ok;
	} cases[] = {
		{ "1password", "op://Private/graph/secret", true },
		{ "1password", "op://Private/graph/section/secret", true },
		{ "1password", "op://Private Vault/app reg/client secret?attribute=password", true },
		{ "1password", "op://Private/graph", false },
		{ "1password", "op://Private//secret", false },
		{ "1password", "op://a/b/c/d/e", false },
		{ "1password", "Private/graph/secret", false },
		{ "1password", "https://Private/graph/secret", false },
		{ "file", "/etc/mcp-auth-broker/graph-secret", true },
		{ "file", "graph-client-secret", true },
		{ "file", "secrets/graph", false },
		{ "file", "..", false },
		{ "env", "GRAPH_CLIENT_SECRET", true },
		{ "env", "_x1", true },
		{ "env", "1GRAPH", false },
		{ "env", "GRAPH-SECRET", false },
		{ "env", "MCP_AUTH_BROKER_GRAPH_SECRET", false },
		{ "command", "anything at all: the helper decides", true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char provider[64], ref[128];
		char *env[] = DEV_ENV("", "", P "SECRET_HELPER=/bin/true");
		struct config cfg;
		struct config_errors errs;
		snprintf(provider, sizeof(provider), P "SECRET_PROVIDER=%s", cases[i].provider);
		snprintf(ref, sizeof(ref), P "GRAPH_SECRET_REF=%s", cases[i].ref);
		env[5] = provider;
		env[6] = ref;
		if (cases[i].ok) {
			ck_assert_msg(load(&cfg, env, &errs) == 0, "%s %s: %s", cases[i].provider,
			    cases[i].ref, errs.n ? errs.v[0] : "");
			config_free(&cfg);
		} else {
			assert_one_error(env, P "GRAPH_SECRET_REF", cases[i].ref);
		}
	}
}
END_TEST

START_TEST(command_needs_helper)
{
	char *env[] = DEV_ENV("command", "graph", P "LOG_LEVEL=info");

	assert_one_error(env, P "SECRET_HELPER", "required");
}
END_TEST

/* Set but refused is one problem, not also "required". */
START_TEST(relative_helper_reported_once)
{
	char *env[] = DEV_ENV("command", "graph", P "SECRET_HELPER=cat");

	assert_one_error(env, P "SECRET_HELPER", "'cat' is not an absolute path: give the full path");
}
END_TEST

START_TEST(misspelt_name_gets_the_nearest)
{
	char *near[] = { P "ALLOWED_PATH=/v1.0/x", NULL };
	char *swapped[] = { P "SECRET_PROIVDER=file", NULL };
	char *far[] = { P "COLOUR=blue", NULL };

	assert_one_error(near, P "ALLOWED_PATH", "did you mean " P "ALLOWED_PATHS?");
	assert_one_error(swapped, P "SECRET_PROIVDER", "did you mean " P "SECRET_PROVIDER?");
	assert_one_error(far, P "COLOUR", "unknown variable (mcp-auth-broker.conf(5) lists them)");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("parse");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_test(tc, smoke_defaults);
	tcase_add_test(tc, tool_names_values);
	tcase_add_test(tc, real_mode_values);
	tcase_add_test(tc, real_mode_requires_identity);
	tcase_add_test(tc, secret_ref_required_with_provider);
	tcase_add_test(tc, credential_kinds);
	tcase_add_test(tc, managed_identity);
	tcase_add_test(tc, mi_endpoint_shapes);
	tcase_add_test(tc, certificate_ref_is_the_resolved_reference);
	tcase_add_test(tc, federated_credential);
	tcase_add_test(tc, certificate_algorithm_and_passphrase);
	tcase_add_test(tc, bad_values_named);
	tcase_add_test(tc, transport_values);
	tcase_add_test(tc, transport_bad_values_named);
	tcase_add_test(tc, session_bounds_values);
	tcase_add_test(tc, session_bounds_bad_values_named);
	tcase_add_test(tc, skew_below_ttl);
	tcase_add_test(tc, all_problems_reported);
	tcase_add_test(tc, other_variables_ignored);
	tcase_add_test(tc, policy_version_tracks_policy);
	tcase_add_test(tc, secret_settings);
	tcase_add_test(tc, secret_settings_bad_values);
	tcase_add_test(tc, secret_ref_shapes);
	tcase_add_test(tc, command_needs_helper);
	tcase_add_test(tc, relative_helper_reported_once);
	tcase_add_test(tc, misspelt_name_gets_the_nearest);
	tcase_add_test(tc, http_values);
	tcase_add_test(tc, http_bad_values);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
