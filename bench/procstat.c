/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* What /proc says about brokerd and its children: who they are, their
 * resident memory, their CPU time.  The children are not dumpable, but
 * /proc/PID/stat and /proc/PID/status stay readable to their uid. */
#include "buildconf.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "log.h"

const char *const proc_names[BENCH_NPROCS] = { "brokerd", "secretd", "tokend" };

/* comm and the fields after it; comm ends at the LAST ')' (it may hold
 * spaces and parentheses). */
static int
read_stat(pid_t pid, char *comm, size_t ccap, char **rest, char *buf, size_t cap)
{
	char path[64];
	FILE *f;
	size_t n;
	char *l, *r;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((l = strchr(buf, '(')) == NULL || (r = strrchr(buf, ')')) == NULL || r[1] == '\0')
		return -1;
	snprintf(comm, ccap, "%.*s", (int)(r - l - 1), l + 1);
	*rest = r + 2;
	return 0;
}

/* Field n (3 = state, 4 = ppid, ...) of /proc/PID/stat, counted as proc(5). */
static long
stat_field(const char *rest, int n)
{
	int i;

	for (i = 3; i < n && rest != NULL; i++)
		if ((rest = strchr(rest, ' ')) != NULL)
			rest++;
	return rest != NULL ? strtol(rest, NULL, 10) : -1;
}

static int
proc_set_complete(const struct proc_set *ps)
{
	int i;

	for (i = 0; i < BENCH_NPROCS; i++)
		if (ps->pid[i] == 0)
			return 0;
	return 1;
}

static void
proc_set_scan(struct proc_set *ps, pid_t brokerd)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	char buf[1024], comm[64], *rest;
	int i;

	memset(ps, 0, sizeof(*ps));
	ps->pid[0] = brokerd;
	if (d == NULL)
		fatal("opendir /proc");
	while ((de = readdir(d)) != NULL) {
		pid_t pid = (pid_t)strtol(de->d_name, NULL, 10);

		if (pid <= 0 || read_stat(pid, comm, sizeof(comm), &rest, buf, sizeof(buf)) == -1)
			continue;
		if (stat_field(rest, 4) != brokerd)
			continue;
		for (i = 1; i < BENCH_NPROCS; i++)
			if (strcmp(comm, proc_names[i]) == 0)
				ps->pid[i] = pid;
	}
	closedir(d);
}

/* Scans again for a while when a child is missing: one scan has been seen
 * to miss one. */
void
proc_set_find(struct proc_set *ps, pid_t brokerd)
{
	int tries;

	for (tries = 0; tries < 100; tries++) {
		proc_set_scan(ps, brokerd);
		if (proc_set_complete(ps))
			return;
		usleep(10000);
	}
	log_warnx("brokerd %d: not all of its children found", (int)brokerd);
}

long
proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

double
proc_cpu_us(pid_t pid)
{
	char buf[1024], comm[64], *rest;
	long ticks;

	if (pid <= 0 || read_stat(pid, comm, sizeof(comm), &rest, buf, sizeof(buf)) == -1)
		return -1;
	/* utime (14) + stime (15): every thread of the process. */
	ticks = stat_field(rest, 14) + stat_field(rest, 15);
	return (double)ticks * 1e6 / (double)sysconf(_SC_CLK_TCK);
}
