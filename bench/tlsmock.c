/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Against the TLS mock (tests/fixtures/mock_entra.py on 127.0.0.1, driven
 * through JSON lines on its stdin): brokerd in dev mode, a fresh one per row
 * so that each starts with a cold token cache and no connection; the mock
 * counts the token requests, TLS handshakes and connections tokend made.
 * Only the server is Python: the calls are made by this program through
 * brokerd and tokend. */
#include "buildconf.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "log.h"

#define TENANT	  "33333333-3333-3333-3333-333333333333"
#define CLIENT_ID "44444444-4444-4444-4444-444444444444"
#define SECRET	  "bench-client-secret"

struct mock {
	struct broker io; /* the same pipes and line reading as brokerd's */
	char base_url[256], ca_file[1024], dir[64];
};

static const struct mock_row rows[N_MOCK] = {
	{ "1,000 concurrent, cold cache", 1000, 1000, 0, 0, 0, 0, 0, 0 },
	{ "1,000 sequential", 1000, 1, 0, 0, 0, 0, 0, 0 },
	{ "64 concurrent", 64, 64, 0, 0, 0, 0, 0, 0 },
};

/* The string value of "key" in a one-line JSON object (no escapes in it). */
static int
json_str(const char *line, const char *key, char *out, size_t cap)
{
	char pat[64];
	const char *p, *end;

	snprintf(pat, sizeof(pat), "\"%s\": \"", key);
	if ((p = strstr(line, pat)) == NULL || (end = strchr(p + strlen(pat), '"')) == NULL)
		return -1;
	p += strlen(pat);
	snprintf(out, cap, "%.*s", (int)(end - p), p);
	return 0;
}

static long
json_long(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	return (p = strstr(line, pat)) != NULL ? strtol(p + strlen(pat), NULL, 10) : -1;
}

static int
mock_start(struct mock *m, const char *srcdir)
{
	extern char **environ;
	char script[4096], pki[128], line[4096];
	char *argv[] = { "/usr/bin/env", "python3", script, "--dir", pki, "--tenant", TENANT,
		"--client-id", CLIENT_ID, "--client-secret", SECRET, "--control-stdin", NULL };

	snprintf(m->dir, sizeof(m->dir), "/tmp/mab-bench-mock-XXXXXX");
	if (mkdtemp(m->dir) == NULL)
		fatal("mkdtemp");
	snprintf(script, sizeof(script), "%s/tests/fixtures/mock_entra.py", srcdir);
	snprintf(pki, sizeof(pki), "%s/pki", m->dir);
	/* The caller's environment: python3 may live where only it knows. */
	spawn_piped(&m->io, argv, environ);
	/* The port, then a JSON object naming the URL and the CA file. */
	if (broker_read_line(&m->io, line, sizeof(line)) == -1 ||
	    broker_read_line(&m->io, line, sizeof(line)) == -1 ||
	    json_str(line, "base_url", m->base_url, sizeof(m->base_url)) == -1 ||
	    json_str(line, "ca_file", m->ca_file, sizeof(m->ca_file)) == -1)
		return -1;
	return 0;
}

/* One control request; its answer line in answer. */
static int
mock_control(struct mock *m, const char *op, char *answer, size_t cap)
{
	char req[128];
	int n = snprintf(req, sizeof(req), "{\"op\": \"%s\"}\n", op);

	if (broker_write(&m->io, req, (size_t)n) == -1)
		return -1;
	return broker_read_line(&m->io, answer, cap);
}

static void
write_secret(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd == -1 || write(fd, SECRET, strlen(SECRET)) != (ssize_t)strlen(SECRET) ||
	    close(fd) == -1)
		fatal("%s", path);
}

/* brokerd's dev-mode configuration against the mock (as tests/integration
 * harness.dev_env), with room for 1,000 calls in flight. */
static void
dev_env(const struct mock *m, char vars[][1100], const char **extra)
{
	static const char *const fixed[] = { "MCP_AUTH_BROKER_ENV=dev",
		"MCP_AUTH_BROKER_TENANT_ID=" TENANT, "MCP_AUTH_BROKER_GRAPH_CLIENT_ID=" CLIENT_ID,
		"MCP_AUTH_BROKER_ALLOWED_SCOPES=User.Read.All", "MCP_AUTH_BROKER_SECRET_PROVIDER=file",
		"MCP_AUTH_BROKER_MAX_INFLIGHT=1024", NULL };
	int n = 0, i;

	for (i = 0; fixed[i] != NULL; i++)
		extra[n++] = fixed[i];
	snprintf(vars[0], sizeof(vars[0]), "MCP_AUTH_BROKER_ALLOWED_GRAPH_RESOURCES=%s",
	    m->base_url);
	snprintf(vars[1], sizeof(vars[1]), "MCP_AUTH_BROKER_AUTHORITY=%s", m->base_url);
	snprintf(vars[2], sizeof(vars[2]), "MCP_AUTH_BROKER_CA_FILE=%s", m->ca_file);
	snprintf(vars[3], sizeof(vars[3]), "MCP_AUTH_BROKER_GRAPH_SECRET_REF=%s/secret", m->dir);
	for (i = 0; i < 4; i++)
		extra[n++] = vars[i];
	extra[n] = NULL;
}

static int
mock_counts(struct mock *m, struct mock_row *row)
{
	char line[65536];

	if (mock_control(m, "counts", line, sizeof(line)) == -1)
		return -1;
	row->token_requests = json_long(line, "token_requests");
	row->graph_requests = json_long(line, "graph_requests");
	row->handshakes = json_long(line, "handshakes");
	row->connections = json_long(line, "connections");
	return 0;
}

/* One row: a fresh brokerd, the calls, then what the mock counted. */
static int
mock_row_run(struct mock *m, const struct bench_env *env, struct mock_row *row)
{
	struct call c = { CALL_EXECUTE, TENANT, m->base_url, 60000 };
	struct broker b;
	struct lat l = { 0 };
	char line[65536];
	int rc;

	if (mock_control(m, "reset", line, sizeof(line)) == -1)
		return -1;
	broker_start(&b, env);
	rc = broker_initialize(&b);
	if (rc == 0)
		rc = broker_load(&b, &c, row->calls, row->window, &l);
	if (broker_stop(&b) == -1)
		rc = -1;
	if (rc == 0)
		rc = mock_counts(m, row);
	row->secs = l.secs;
	row->ok = rc == 0;
	return rc;
}

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void
mock_stop(struct mock *m)
{
	close(m->io.in); /* --control-stdin: the end of stdin stops it */
	close(m->io.out);
	waitpid(m->io.pid, NULL, 0);
	if (nftw(m->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS) == -1)
		log_warn("could not remove %s", m->dir);
}

int
tlsmock_measure(const struct bench_env *smoke, const char *srcdir, struct results *res)
{
	struct mock m;
	char vars[4][1100], secret[128];
	const char *extra[16];
	struct bench_env env = *smoke;
	int i, rc = 0;

	memcpy(res->mock, rows, sizeof(rows));
	if (srcdir == NULL) {
		snprintf(res->mock_note, sizeof(res->mock_note), "no --srcdir (for the mock)");
		return 0;
	}
	if (mock_start(&m, srcdir) == -1) {
		snprintf(res->mock_note, sizeof(res->mock_note),
		    "the mock did not start (python3 and openssl needed)");
		mock_stop(&m);
		return -1;
	}
	snprintf(secret, sizeof(secret), "%s/secret", m.dir);
	write_secret(secret);
	dev_env(&m, vars, extra);
	env.extra = extra;
	for (i = 0; i < N_MOCK; i++)
		rc |= mock_row_run(&m, &env, &res->mock[i]);
	mock_stop(&m);
	return rc;
}
