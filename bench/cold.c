/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Cold start: from fork+exec of brokerd to its initialize answer, and to
 * the answer of the first execute call (which also starts the children's
 * work: secretd's secret, tokend's first token). */
#include "buildconf.h"

#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "log.h"

static const struct call first_execute = { CALL_EXECUTE,
	"11111111-1111-1111-1111-111111111111", "https://graph.microsoft.com", 5000 };

static int
cold_once(const struct bench_env *env, double *init_ms, double *exec_ms)
{
	struct broker b;
	char line[65536];
	double t0 = now_us();
	size_t n;
	int rc;

	broker_start(&b, env);
	rc = broker_initialize(&b);
	*init_ms = (now_us() - t0) / 1e3;
	n = call_make(&first_execute, b.next_id++, line, sizeof(line));
	if (rc == 0)
		rc = broker_write(&b, line, n);
	if (rc == 0)
		rc = broker_read_line(&b, line, sizeof(line));
	if (rc == 0)
		rc = call_check(&first_execute, line, strlen(line));
	*exec_ms = (now_us() - t0) / 1e3;
	if (broker_stop(&b) == -1)
		rc = -1;
	return rc;
}

static void
spread_of(struct spread *s, double *v, long n)
{
	struct lat l;

	lat_finish(&l, v, n, 0); /* sorts v */
	s->median = v[n / 2];
	s->min = v[0];
	s->max = v[n - 1];
}

int
cold_measure(const struct bench_env *env, struct results *res)
{
	double *init = calloc((size_t)res->cold_runs, sizeof(double));
	double *exec = calloc((size_t)res->cold_runs, sizeof(double));
	long i;
	int rc = 0;

	if (init == NULL || exec == NULL)
		fatal("calloc");
	for (i = 0; i < res->cold_runs && rc == 0; i++)
		rc = cold_once(env, &init[i], &exec[i]);
	if (rc == 0) {
		spread_of(&res->cold_init, init, res->cold_runs);
		spread_of(&res->cold_exec, exec, res->cold_runs);
		res->cold_ok = 1;
	}
	free(init);
	free(exec);
	return rc;
}
