/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* bench: measures, in one run, the floor (socketpairs alone), brokerd's
 * calls over stdio in smoke mode, cold start, memory and CPU per process,
 * instructions per call (under callgrind, when valgrind is installed) and
 * the connection and token counts against the TLS mock; prints the table
 * and writes it to the --out file.
 *
 *   bench --stage DIR [--nosec-stage DIR] [--srcdir DIR] [--out FILE]
 *         [--compiler TEXT]
 *
 * DIR holds brokerd, secretd and tokend (MCP_AUTH_BROKER_LIBEXECDIR points
 * there).  Counts come from BENCH_CALLS (20000), BENCH_WARMUP (1000),
 * BENCH_REPEAT (3: each row is run this many times and the run with the
 * most calls/s kept), BENCH_COLD_RUNS (20) and BENCH_CG_CALLS (200).
 * BENCH_ONLY (a comma-separated subset of floor, mcp, cold, insn, tls) runs
 * only those sections, e.g. BENCH_ONLY=insn to compare instruction counts
 * between two builds quickly. */
#include "buildconf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"
#include "log.h"

const long bench_windows[N_WINDOWS] = { 1, 8, 64 };

static const char smoke_tenant[] = "11111111-1111-1111-1111-111111111111";
static const char smoke_resource[] = "https://graph.microsoft.com";

struct opts {
	const char *stage, *nosec_stage, *srcdir, *out, *compiler;
};

static long
env_long(const char *name, long def)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (v == NULL || *v == '\0')
		return def;
	n = strtol(v, &end, 10);
	if (*end != '\0' || n < 0)
		fatalx("%s=%s: not a count", name, v);
	return n;
}

/* The repetition with the most calls/s, whole (its latencies with it). */
static void
keep_best(struct lat *best, const struct lat *l, int first)
{
	if (first || l->per_s > best->per_s)
		*best = *l;
}

static void
floor_measure(struct results *res)
{
	static const int hops[N_FLOORS] = { 1, 3 };
	struct lat l;
	long i;
	int f, w;

	for (f = 0; f < N_FLOORS; f++)
		for (w = 0; w < N_WINDOWS; w++) {
			res->floor_ok[f][w] = 1;
			for (i = 0; i < res->repeat && res->floor_ok[f][w]; i++) {
				res->floor_ok[f][w] = floor_run(hops[f], res->msg_size, res->calls,
				    bench_windows[w], &l) == 0;
				if (res->floor_ok[f][w])
					keep_best(&res->floor[f][w], &l, i == 0);
			}
		}
}

static void
cpu_sample(const struct proc_set *ps, double *cpu)
{
	int p;

	for (p = 0; p < BENCH_NPROCS; p++)
		cpu[p] = proc_cpu_us(ps->pid[p]);
}

/* Each window BENCH_REPEAT times, the best kept (the machine may be shared);
 * the 64-in-flight runs also give CPU per call per process. */
static int
mcp_windows(struct broker *b, const struct call *c, struct results *res)
{
	struct proc_set ps;
	double before[BENCH_NPROCS], after[BENCH_NPROCS];
	struct lat l;
	long i;
	int w, p, ok = 1;

	for (p = 0; p < BENCH_NPROCS; p++)
		before[p] = after[p] = -1;
	proc_set_find(&ps, b->pid);
	for (w = 0; w < N_WINDOWS && ok; w++) {
		if (w == N_WINDOWS - 1)
			cpu_sample(&ps, before);
		for (i = 0; i < res->repeat && ok; i++) {
			ok = broker_load(b, c, res->calls, bench_windows[w], &l) == 0;
			if (ok)
				keep_best(&res->mcp[c->kind][w], &l, i == 0);
		}
		res->mcp_ok[c->kind][w] = ok;
	}
	cpu_sample(&ps, after);
	for (p = 0; p < BENCH_NPROCS; p++)
		res->cpu_us_per_call[c->kind][p] = ok && before[p] >= 0 && after[p] >= 0
		    ? (after[p] - before[p]) / (double)(res->calls * res->repeat) : -1;
	if (c->kind == CALL_EXECUTE)
		for (p = 0; p < BENCH_NPROCS; p++)
			res->rss_kib[p] = ps.pid[p] > 0 ? proc_rss_kib(ps.pid[p]) : -1;
	return ok ? 0 : -1;
}

/* One session per kind of call: warm-up, then 1, 8 and 64 in flight. */
static int
mcp_session(const struct bench_env *env, enum call_kind kind, struct results *res)
{
	struct call c = { kind, smoke_tenant, smoke_resource, 5000 };
	struct broker b;
	struct lat warm;
	int rc;

	broker_start(&b, env);
	rc = broker_initialize(&b);
	if (rc == 0)
		rc = broker_load(&b, &c, res->warmup, 64, &warm);
	if (rc == 0)
		rc = mcp_windows(&b, &c, res);
	if (kind == CALL_EXECUTE)
		res->rss_after_calls = res->warmup + N_WINDOWS * res->calls * res->repeat;
	if (broker_stop(&b) == -1)
		rc = -1;
	if (rc == -1)
		log_warnx("%s over stdio failed", call_name(kind));
	return rc;
}

static void
cpu_model(char *out, size_t cap)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512], *colon;

	snprintf(out, cap, "unknown CPU");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "model name", 10) != 0 || (colon = strchr(line, ':')) == NULL)
			continue;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(out, cap, "%s", colon + 2);
		break;
	}
	if (f != NULL)
		fclose(f);
}

/* The load average at the start: the machine may be shared, and other
 * work running meanwhile shows in every number. */
static void
load_average(char *out, size_t cap)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double one = -1, five = -1;

	if (f != NULL) {
		if (fscanf(f, "%lf %lf", &one, &five) != 2)
			one = five = -1;
		fclose(f);
	}
	snprintf(out, cap, "%.2f %.2f", one, five);
}

static void
describe_machine(struct results *res, const char *compiler)
{
	struct utsname u;
	char cpu[256], load[64];

	uname(&u);
	cpu_model(cpu, sizeof(cpu));
	load_average(load, sizeof(load));
	snprintf(res->machine, sizeof(res->machine),
	    "%ld CPUs online (%s), Linux %s %s, load average at start %s (1, 5 min); "
	    "compiler: %s",
	    sysconf(_SC_NPROCESSORS_ONLN), cpu, u.release, u.machine, load,
	    compiler != NULL ? compiler : "unknown");
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = { { "stage", required_argument, NULL, 's' },
		{ "nosec-stage", required_argument, NULL, 'n' },
		{ "srcdir", required_argument, NULL, 'S' },
		{ "out", required_argument, NULL, 'o' },
		{ "compiler", required_argument, NULL, 'c' }, { NULL, 0, NULL, 0 } };
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			o->stage = optarg;
			break;
		case 'n':
			o->nosec_stage = optarg;
			break;
		case 'S':
			o->srcdir = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'c':
			o->compiler = optarg;
			break;
		default:
			fatalx("usage: bench --stage DIR [--nosec-stage DIR] [--srcdir DIR] "
			       "[--out FILE] [--compiler TEXT]");
		}
	}
	if (o->stage == NULL)
		fatalx("--stage DIR (holding brokerd, secretd, tokend) is required");
}

static void
results_init(struct results *res)
{
	static const struct call sample = { CALL_EXECUTE, smoke_tenant, smoke_resource, 5000 };
	char line[8192];
	int k, p;

	memset(res, 0, sizeof(*res));
	res->calls = env_long("BENCH_CALLS", 20000);
	res->warmup = env_long("BENCH_WARMUP", 1000);
	res->cold_runs = env_long("BENCH_COLD_RUNS", 20);
	res->cg_calls = env_long("BENCH_CG_CALLS", 200);
	res->repeat = env_long("BENCH_REPEAT", 3);
	if (res->calls < 1 || res->cold_runs < 1 || res->repeat < 1)
		fatalx("BENCH_CALLS, BENCH_COLD_RUNS and BENCH_REPEAT must be at least 1");
	res->msg_size = call_make(&sample, 10000, line, sizeof(line));
	for (k = 0; k < N_CALLS; k++)
		for (p = 0; p < BENCH_NPROCS; p++)
			res->insn_per_call[k][p] = res->cpu_us_per_call[k][p] = -1;
}

static void
write_out(const char *path, const struct results *res)
{
	FILE *f;

	report_write(stdout, res);
	if (path == NULL)
		return;
	if ((f = fopen(path, "w")) == NULL)
		fatal("%s", path);
	report_write(f, res);
	if (fclose(f) != 0)
		fatal("%s", path);
	fprintf(stderr, "bench: wrote %s\n", path);
}

/* Whether BENCH_ONLY, when set, names this section. */
static int
section_on(const char *name)
{
	const char *only = getenv("BENCH_ONLY");
	size_t n = strlen(name);

	for (const char *p = only; p != NULL && *p != '\0'; p += strcspn(p, ",")) {
		p += strspn(p, ",");
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return 1;
	}
	return only == NULL || *only == '\0';
}

int
main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct results res;
	struct bench_env env = { 0 };
	char brokerd[4096];
	int k, failed = 0;

	log_init("bench", LOG_LEVEL_INFO);
	parse_opts(argc, argv, &o);
	results_init(&res);
	describe_machine(&res, o.compiler);
	snprintf(brokerd, sizeof(brokerd), "%s/brokerd", o.stage);
	env.brokerd = brokerd;
	env.libexecdir = o.stage;

	if (section_on("floor")) {
		fprintf(stderr, "bench: floor\n");
		floor_measure(&res);
	}
	for (k = 0; k < N_CALLS && section_on("mcp"); k++) {
		fprintf(stderr, "bench: %s over stdio\n", call_name((enum call_kind)k));
		failed |= mcp_session(&env, (enum call_kind)k, &res);
	}
	if (section_on("cold")) {
		fprintf(stderr, "bench: cold start\n");
		failed |= cold_measure(&env, &res);
	}
	if (section_on("insn")) {
		fprintf(stderr, "bench: instructions per call\n");
		failed |= callgrind_measure(o.nosec_stage, &res);
	}
	if (section_on("tls")) {
		fprintf(stderr, "bench: against the TLS mock\n");
		failed |= tlsmock_measure(&env, o.srcdir, &res);
	}
	/* Written even when a section failed: the table says which; a partial
	 * run (BENCH_ONLY) only prints, leaving the full table in --out. */
	write_out(section_on("all") ? o.out : NULL, &res);
	return failed ? 1 : 0;
}
