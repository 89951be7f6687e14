/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The table: Markdown, so that bench/RESULTS.md reads as it prints. */
#include "buildconf.h"

#include <stdio.h>

#include "bench.h"

/* The floor a call is compared with: ping crosses one hop (client <->
 * brokerd); describe and execute go on to tokend and back. */
static const int call_floor[N_CALLS] = { FLOOR_1HOP, FLOOR_3HOPS, FLOOR_3HOPS };
static const char *const floor_names[N_FLOORS] = { "1 hop", "3 hops" };

static void
report_floor(FILE *f, const struct results *r)
{
	int h, w;

	fprintf(f, "## Floor: a %zu-byte line over socketpairs, echoed back\n\n", r->msg_size);
	fprintf(f, "| hops | in flight | round trips/s | p50 us | p99 us |\n");
	fprintf(f, "|---|---:|---:|---:|---:|\n");
	for (h = 0; h < N_FLOORS; h++)
		for (w = 0; w < N_WINDOWS; w++) {
			const struct lat *l = &r->floor[h][w];

			if (!r->floor_ok[h][w]) {
				fprintf(f, "| %s | %ld | failed | | |\n", floor_names[h],
				    bench_windows[w]);
				continue;
			}
			fprintf(f, "| %s | %ld | %.0f | %.1f | %.1f |\n", floor_names[h],
			    bench_windows[w], l->per_s, l->p50_us, l->p99_us);
		}
	fprintf(f, "\n");
}

static void
report_call(FILE *f, const struct results *r, int k, int w)
{
	const struct lat *l = &r->mcp[k][w], *fl = &r->floor[call_floor[k]][w];

	if (!r->mcp_ok[k][w]) {
		fprintf(f, "| %s | %ld | failed | | | |\n", call_name((enum call_kind)k),
		    bench_windows[w]);
		return;
	}
	fprintf(f, "| %s | %ld | %s | %.0f (%.3f) | %.1f (%.2fx) | %.1f (%.2fx) |\n",
	    call_name((enum call_kind)k), bench_windows[w], floor_names[call_floor[k]], l->per_s,
	    fl->per_s > 0 ? l->per_s / fl->per_s : 0, l->p50_us,
	    fl->p50_us > 0 ? l->p50_us / fl->p50_us : 0, l->p99_us,
	    fl->p99_us > 0 ? l->p99_us / fl->p99_us : 0);
}

static void
report_mcp(FILE *f, const struct results *r)
{
	int k, w;

	fprintf(f, "## MCP over stdio (smoke mode), a brokerd per kind of call, after %ld warm-up calls\n\n",
	    r->warmup);
	fprintf(f, "In parentheses: calls/s as a fraction of the floor's round trips/s, and\n"
		   "latency as a multiple of the floor's, at the same number in flight.\n\n");
	fprintf(f, "| call | in flight | floor | calls/s (of floor) | p50 us (x floor) | "
		   "p99 us (x floor) |\n");
	fprintf(f, "|---|---:|---|---:|---:|---:|\n");
	for (k = 0; k < N_CALLS; k++)
		for (w = 0; w < N_WINDOWS; w++)
			report_call(f, r, k, w);
	fprintf(f, "\n");
}

static void
report_cold(FILE *f, const struct results *r)
{
	fprintf(f, "## Cold start (fork+exec of brokerd), %ld runs\n\n", r->cold_runs);
	if (!r->cold_ok) {
		fprintf(f, "failed\n\n");
		return;
	}
	fprintf(f, "| until | median ms | min ms | max ms |\n|---|---:|---:|---:|\n");
	fprintf(f, "| `initialize` answer | %.2f | %.2f | %.2f |\n", r->cold_init.median,
	    r->cold_init.min, r->cold_init.max);
	fprintf(f, "| first execute answer | %.2f | %.2f | %.2f |\n\n", r->cold_exec.median,
	    r->cold_exec.min, r->cold_exec.max);
}

static void
print_num(FILE *f, double v, int decimals)
{
	if (v < 0)
		fprintf(f, " n/a |");
	else
		fprintf(f, " %.*f |", decimals, v);
}

static void
report_procs(FILE *f, const struct results *r)
{
	double sum = 0;
	int p, k;

	fprintf(f, "## Per process\n\n");
	fprintf(f, "RSS after the execute session's %ld calls; CPU time (utime+stime) per call\n"
		   "over the 64-in-flight run; instructions per call under callgrind.\n\n",
	    r->rss_after_calls);
	fprintf(f, "| process | RSS KiB | CPU us/call ping | describe | execute | "
		   "instructions/call ping | describe | execute |\n");
	fprintf(f, "|---|---:|---:|---:|---:|---:|---:|---:|\n");
	for (p = 0; p < BENCH_NPROCS; p++) {
		fprintf(f, "| %s |", proc_names[p]);
		print_num(f, (double)r->rss_kib[p], 0);
		sum += r->rss_kib[p] > 0 ? (double)r->rss_kib[p] : 0;
		for (k = 0; k < N_CALLS; k++)
			print_num(f, r->cpu_us_per_call[k][p], 1);
		for (k = 0; k < N_CALLS; k++)
			print_num(f, r->insn_per_call[k][p], 0);
		fprintf(f, "\n");
	}
	fprintf(f, "| all three | %.0f (%.1f MiB) | | | | | | |\n\n", sum, sum / 1024);
	if (r->insn_note[0] != '\0')
		fprintf(f, "Instructions: %s\n\n", r->insn_note);
}

static void
report_mock(FILE *f, const struct results *r)
{
	int i;

	fprintf(f, "## Against the TLS mock on 127.0.0.1 (dev mode, a fresh brokerd per row)\n\n");
	if (r->mock_note[0] != '\0') {
		fprintf(f, "n/a: %s\n\n", r->mock_note);
		return;
	}
	fprintf(f, "| calls | in flight | token requests | TLS handshakes | connections | "
		   "Graph requests | seconds |\n");
	fprintf(f, "|---|---:|---:|---:|---:|---:|---:|\n");
	for (i = 0; i < N_MOCK; i++) {
		const struct mock_row *m = &r->mock[i];

		if (!m->ok) {
			fprintf(f, "| %s | %ld | failed | | | | |\n", m->what, m->window);
			continue;
		}
		fprintf(f, "| %s | %ld | %ld | %ld | %ld | %ld | %.2f |\n", m->what, m->window,
		    m->token_requests, m->handshakes, m->connections, m->graph_requests,
		    m->secs);
	}
	fprintf(f, "\n");
}

void
report_write(FILE *f, const struct results *r)
{
	fprintf(f, "# mcp-auth-broker benchmark (`make bench`)\n\n");
	fprintf(f, "Machine: %s.\n\n", r->machine);
	fprintf(f, "Each throughput row: the best of %ld runs of %ld calls (calls/s, and\n"
		   "that run's latencies).\n\n",
	    r->repeat, r->calls);
	report_floor(f, r);
	report_mcp(f, r);
	report_cold(f, r);
	report_procs(f, r);
	report_mock(f, r);
	fprintf(f, "## HTTP transport\n\nn/a: no HTTP transport yet\n");
}
