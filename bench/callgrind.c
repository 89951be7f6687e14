/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Instructions per call: brokerd and its children under callgrind
 * (--trace-children=yes), once with only a warm-up and once with
 * BENCH_CG_CALLS more calls; the difference per process, divided by the
 * calls, is what one call costs it, start-up and warm-up subtracted.
 *
 * valgrind cannot run a process that loads the seccomp filters, so this uses
 * the build without them (--nosec-stage, which `make bench` builds with
 * -DNO_SECCOMP); callgrind counts user-space instructions only, which the
 * filters, run in the kernel, do not change. */
#include "buildconf.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "log.h"

#define CG_WARMUP 50

static int
find_in_path(const char *name, char *out, size_t cap)
{
	const char *path = getenv("PATH");
	char copy[4096], *dir, *save = NULL;

	snprintf(copy, sizeof(copy), "%s", path != NULL ? path : "/usr/bin:/bin");
	for (dir = strtok_r(copy, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, cap, "%s/%s", dir, name);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -1;
}

static int
proc_index(const char *cmd)
{
	const char *base = strrchr(cmd, '/');
	int p;

	base = base != NULL ? base + 1 : cmd;
	for (p = 0; p < BENCH_NPROCS; p++)
		if (strncmp(base, proc_names[p], strlen(proc_names[p])) == 0)
			return p;
	return -1;
}

/* Adds one callgrind.out file's total to the process its "cmd:" names:
 * "summary:" (or, failing that, "totals:"; both give the same number). */
static void
add_file(const char *path, double *insn)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	double summary = 0, totals = 0;
	int p = -1;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "cmd: ", 5) == 0)
			p = proc_index(strtok(line + 5, " \n"));
		else if (strncmp(line, "summary: ", 9) == 0)
			summary = strtod(line + 9, NULL);
		else if (strncmp(line, "totals: ", 8) == 0)
			totals = strtod(line + 8, NULL);
	}
	if (f != NULL)
		fclose(f);
	if (p >= 0)
		insn[p] += summary > 0 ? summary : totals;
}

static void
sum_dir(const char *dir, double *insn)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096];

	memset(insn, 0, sizeof(double) * BENCH_NPROCS);
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "cg.", 3) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		add_file(path, insn);
		unlink(path);
	}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
}

/* One session under callgrind: warm-up, then calls more; totals per process. */
static int
cg_session(const char *valgrind, const char *stage, const struct call *c, long calls,
    double *insn)
{
	char dir[] = "/tmp/mab-bench-cg-XXXXXX", outopt[128], brokerd[4096];
	const char *wrap[] = { valgrind, "--tool=callgrind", "--trace-children=yes",
		"--callgrind-out-file=", NULL };
	struct bench_env env = { brokerd, stage, NULL, wrap };
	struct broker b;
	struct lat l;
	int rc;

	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	snprintf(outopt, sizeof(outopt), "--callgrind-out-file=%s/cg.%%p", dir);
	wrap[3] = outopt;
	snprintf(brokerd, sizeof(brokerd), "%s/brokerd", stage);
	broker_start(&b, &env);
	rc = broker_initialize(&b);
	if (rc == 0)
		rc = broker_load(&b, c, CG_WARMUP, 1, &l);
	if (rc == 0 && calls > 0)
		rc = broker_load(&b, c, calls, 1, &l);
	if (broker_stop(&b) == -1)
		rc = -1;
	sum_dir(dir, insn);
	return rc;
}

static int
cg_kind(const char *valgrind, const char *stage, enum call_kind kind, struct results *res)
{
	struct call c = { kind, "11111111-1111-1111-1111-111111111111",
		"https://graph.microsoft.com", 30000 };
	double base[BENCH_NPROCS], more[BENCH_NPROCS];
	int p;

	if (cg_session(valgrind, stage, &c, 0, base) == -1 ||
	    cg_session(valgrind, stage, &c, res->cg_calls, more) == -1)
		return -1;
	for (p = 0; p < BENCH_NPROCS; p++)
		res->insn_per_call[kind][p] = (more[p] - base[p]) / (double)res->cg_calls;
	return 0;
}

int
callgrind_measure(const char *nosec_stage, struct results *res)
{
	char valgrind[4096];
	int k;

	if (find_in_path("valgrind", valgrind, sizeof(valgrind)) == -1) {
		snprintf(res->insn_note, sizeof(res->insn_note), "n/a: valgrind is not installed");
		return 0;
	}
	if (nosec_stage == NULL || res->cg_calls < 1) {
		snprintf(res->insn_note, sizeof(res->insn_note),
		    "n/a: no build without seccomp given (--nosec-stage): valgrind cannot "
		    "run the filters");
		return 0;
	}
	snprintf(res->insn_note, sizeof(res->insn_note),
	    "callgrind, %ld calls one at a time after %d warm-up calls, minus a run with "
	    "the warm-up only; a build without the seccomp filters (valgrind cannot run "
	    "them; they run in the kernel, which callgrind does not count)",
	    res->cg_calls, CG_WARMUP);
	for (k = 0; k < N_CALLS; k++)
		if (cg_kind(valgrind, nosec_stage, (enum call_kind)k, res) == -1) {
			snprintf(res->insn_note, sizeof(res->insn_note), "failed under callgrind");
			return -1;
		}
	return 0;
}
