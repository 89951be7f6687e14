/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "secretenv.h"

extern char **environ;

const char *const secretenv_op_vars[] = { "PATH", "HOME", "XDG_CONFIG_HOME", "OP_CONFIG_DIR",
	"HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", NULL };
const char *const secretenv_helper_vars[] = { "PATH", "HOME", NULL };

bool
secretenv_is(const char *entry, const char *name)
{
	size_t n = strlen(name);

	return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

static bool
entry_in(const char *entry, const char *const *names)
{
	for (size_t i = 0; names[i] != NULL; i++)
		if (secretenv_is(entry, names[i]))
			return true;
	return false;
}

bool
secretenv_wanted(const struct config *cfg, const char *entry)
{
	/* Named first so that no table below can ever let it through. */
	if (secretenv_is(entry, OP_TOKEN_VAR) || cfg->env == BROKER_ENV_SMOKE)
		return false;
	switch (cfg->secret_provider) {
	case SECRET_PROVIDER_1PASSWORD:
		return entry_in(entry, secretenv_op_vars) || secretenv_is(entry, CREDENTIALS_DIR_VAR);
	case SECRET_PROVIDER_FILE:
		return secretenv_is(entry, CREDENTIALS_DIR_VAR);
	case SECRET_PROVIDER_COMMAND:
		return entry_in(entry, secretenv_helper_vars);
	case SECRET_PROVIDER_ENV:
		return (cfg->secret_ref != NULL && secretenv_is(entry, cfg->secret_ref)) ||
		    (cfg->certificate_passphrase_ref != NULL &&
			secretenv_is(entry, cfg->certificate_passphrase_ref));
	default:
		return false;
	}
}

static bool
is_executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int
secretenv_find_op(const struct config *cfg, const char *search_path, char *out, size_t outlen)
{
	const char *p = search_path ? search_path : SECRETENV_DEFAULT_PATH;

	if (cfg->op_path != NULL) {
		if (!is_executable_file(cfg->op_path) ||
		    (size_t)snprintf(out, outlen, "%s", cfg->op_path) >= outlen)
			return -1;
		return 0;
	}
	while (*p != '\0') {
		size_t n = strcspn(p, ":");
		/* Only absolute entries: "" or "." would make the answer depend on
		 * the directory a process happens to run in. */
		if (n > 0 && p[0] == '/' && (size_t)snprintf(out, outlen, "%.*s/op", (int)n, p) < outlen &&
		    is_executable_file(out))
			return 0;
		p += n + (p[n] == ':');
	}
	return -1;
}

int
secretenv_credential_path(const char *dir, const char *name, char *out, size_t outlen)
{
	if (dir == NULL || *dir == '\0')
		return -1;
	if ((size_t)snprintf(out, outlen, "%s/%s", dir, name) >= outlen)
		return -1;
	return 0;
}

bool
secretenv_op_credential_exists(void)
{
	char path[4096];
	struct stat st;

	return secretenv_credential_path(getenv(CREDENTIALS_DIR_VAR), OP_TOKEN_CREDENTIAL, path,
		   sizeof(path)) == 0 &&
	    stat(path, &st) == 0;
}

static void
check_1password(const struct config *cfg, struct config_errors *errs)
{
	char op[4096];
	const char *token = getenv(OP_TOKEN_VAR);

	if (secretenv_find_op(cfg, getenv("PATH"), op, sizeof(op)) == -1) {
		if (cfg->op_path != NULL)
			config_error_add(errs, "MCP_AUTH_BROKER_OP_PATH",
			    "'%s' is not an executable file", cfg->op_path);
		else
			config_error_add(errs, "MCP_AUTH_BROKER_OP_PATH",
			    "no executable 'op' on PATH (%s): install the 1Password CLI or set "
			    "this to its absolute path",
			    getenv("PATH") ? getenv("PATH") : SECRETENV_DEFAULT_PATH);
	}
	if ((token == NULL || *token == '\0') && !secretenv_op_credential_exists())
		config_error_add(errs, OP_TOKEN_VAR,
		    "required with MCP_AUTH_BROKER_SECRET_PROVIDER=1password: set it, or pass the "
		    "credential %s with systemd LoadCredential=", OP_TOKEN_CREDENTIAL);
}

int
secretenv_check(const struct config *cfg, struct config_errors *errs)
{
	const char *ref = cfg->secret_ref;

	memset(errs, 0, sizeof(*errs));
	if (cfg->env == BROKER_ENV_SMOKE)
		return 0;
	switch (cfg->secret_provider) {
	case SECRET_PROVIDER_1PASSWORD:
		check_1password(cfg, errs);
		break;
	case SECRET_PROVIDER_FILE:
		if (ref[0] != '/' && getenv(CREDENTIALS_DIR_VAR) == NULL)
			config_error_add(errs, "MCP_AUTH_BROKER_GRAPH_SECRET_REF",
			    "'%s' is a credential name, but " CREDENTIALS_DIR_VAR " is not set: "
			    "use systemd LoadCredential= or an absolute path", ref);
		break;
	case SECRET_PROVIDER_COMMAND:
		if (!is_executable_file(cfg->secret_helper))
			config_error_add(errs, "MCP_AUTH_BROKER_SECRET_HELPER",
			    "'%s' is not an executable file", cfg->secret_helper);
		break;
	case SECRET_PROVIDER_ENV:
		if (getenv(ref) == NULL && cfg->graph_credential == GRAPH_CREDENTIAL_MANAGED_IDENTITY)
			config_error_add(errs, ref,
			    "not set, but IDENTITY_ENDPOINT is: App Service and Container Apps set both "
			    "when a managed identity is enabled (managed identity)");
		else if (getenv(ref) == NULL)
			config_error_add(errs, "MCP_AUTH_BROKER_GRAPH_SECRET_REF",
			    "the environment variable %s is not set", ref);
		if (cfg->certificate_passphrase_ref != NULL &&
		    getenv(cfg->certificate_passphrase_ref) == NULL)
			config_error_add(errs, "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF",
			    "the environment variable %s is not set", cfg->certificate_passphrase_ref);
		break;
	default:
		break;
	}
	return errs->n > 0 ? -1 : 0;
}

void
secretenv_check_or_exit(const struct config *cfg)
{
	struct config_errors errs;

	if (secretenv_check(cfg, &errs) == 0)
		return;
	for (size_t i = 0; i < errs.n; i++)
		log_error("configuration: %s", errs.v[i]);
	log_error("configuration: %zu problem%s, not starting", errs.n, errs.n == 1 ? "" : "s");
	exit(EX_CONFIG_STATUS);
}

int
secretenv_take(const char *name, struct guarded *out)
{
	size_t n = 0, k = 0;
	char **found;
	int rc = 0;

	for (char **e = environ; *e != NULL; e++)
		n += secretenv_is(*e, name);
	if (n == 0)
		return 0;
	if ((found = calloc(n, sizeof(*found))) == NULL)
		fatalx("out of memory");
	for (char **e = environ; *e != NULL; e++)
		if (secretenv_is(*e, name))
			found[k++] = *e;
	rc = 1;
	if (out != NULL && guard_store(out, found[0] + strlen(name) + 1,
			       strlen(found[0] + strlen(name) + 1)) == -1)
		rc = -1;
	/* Out of environ first, then overwritten where it lies, name and all:
	 * for the environment the process started with, that is the block the
	 * kernel shows as /proc/PID/environ. */
	unsetenv(name);
	for (size_t i = 0; i < n; i++)
		secure_wipe(found[i], strlen(found[i]));
	free(found);
	return rc;
}
