/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include <linux/landlock.h>
#include <sys/syscall.h>

#include <seccomp.h>

#include "log.h"
#include "sandbox.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41 /* Linux 5.17 */
#endif
#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13; older headers lack the name */
#endif

/* One allowed syscall, optionally only with some argument values (all of
 * them must match; several entries for one syscall are alternatives). */
struct sc_rule {
	const char *name;
	unsigned argc;
	struct scmp_arg_cmp arg[2];
};

#define ALLOW(n) { #n, 0, { { 0 } } }
#define ALLOW_IF(n, cmp) { #n, 1, { cmp } }
#define ALLOW_IF2(n, cmp1, cmp2) { #n, 2, { cmp1, cmp2 } }
#define DENY(n) { #n, 0, { { 0 } } }
#define DENY_IF(n, cmp) { #n, 1, { cmp } }
#define RDONLY_MASK (O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND)
/* SCMP_CMP_EQ ignores datum_b; it is spelled out (0) because clang's
 * -Wmissing-field-initializers wants every field of the compound literal. */
#define ARG_EQ(i, v) SCMP_CMP((i), SCMP_CMP_EQ, (scmp_datum_t)(v), 0)
#define ARG_CLEAR(i, bits) SCMP_CMP((i), SCMP_CMP_MASKED_EQ, (scmp_datum_t)(bits), 0)
/* fcntl (chrony): descriptor and status flags, nothing that duplicates a
 * descriptor, locks, leases, or sends signals (F_SETOWN, F_SETSIG). */
#define ALLOW_FCNTL(cmd) ALLOW_IF(fcntl, ARG_EQ(1, cmd))
/* getsockopt/setsockopt by level and option name. */
#define ALLOW_SOCKOPT(call, level, opt) ALLOW_IF2(call, ARG_EQ(1, level), ARG_EQ(2, opt))

/* ---- shared by the allowlists ------------------------------------------ */
static const struct sc_rule rules_common[] = {
	/* The event loop: the channels, the client, poll.  No sendmsg (it
	 * passes descriptors: SCM_RIGHTS) and sendto only without an address,
	 * i.e. send(2) on a connected socket: nothing reaches a socket that
	 * was not already connected before the filter. */
	ALLOW(read), ALLOW(readv), ALLOW(write), ALLOW(writev), ALLOW(close), ALLOW(poll),
	ALLOW(ppoll), ALLOW(lseek), ALLOW(fstat), ALLOW(newfstatat), ALLOW(recvfrom),
	ALLOW_IF(sendto, ARG_EQ(4, 0)), ALLOW(shutdown),
	ALLOW_FCNTL(F_GETFL), ALLOW_FCNTL(F_GETFD), ALLOW_FCNTL(F_SETFD),
	/* Memory: malloc, json-c, libsodium's guarded pages (mprotect, mlock);
	 * never executable (OpenSSH: mprotect without PROT_EXEC), so injected
	 * bytes cannot become code. */
	ALLOW(brk), ALLOW_IF(mmap, ARG_CLEAR(2, PROT_EXEC)), ALLOW(munmap), ALLOW(mremap),
	ALLOW(madvise), ALLOW_IF(mprotect, ARG_CLEAR(2, PROT_EXEC)), ALLOW(mlock),
	ALLOW(munlock),
	/* Time, randomness, identity: timers, TLS and libsodium need them. */
	ALLOW(clock_gettime), ALLOW(clock_nanosleep), ALLOW(nanosleep), ALLOW(gettimeofday),
	ALLOW(getrandom), ALLOW(getpid), ALLOW(gettid), ALLOW(getuid), ALLOW(geteuid),
	ALLOW(getgid), ALLOW(getegid),
	/* Signals and exit (signalfd reads are plain reads).  tgkill, for
	 * abort() on a broken invariant, only to this process: sandbox_build
	 * adds it with our pid. */
	ALLOW(rt_sigreturn), ALLOW(rt_sigprocmask), ALLOW(rt_sigaction), ALLOW(sigaltstack),
	ALLOW(restart_syscall), ALLOW(exit), ALLOW(exit_group), ALLOW(futex), ALLOW(sched_yield),
#ifdef MAB_SANITIZED
	/* Sanitizer builds only: the runtime asks whether the process is
	 * dumpable at exit, and a report reads /proc/self/maps and symbols. */
	ALLOW(prctl), ALLOW_IF(openat, SCMP_A2(SCMP_CMP_MASKED_EQ, RDONLY_MASK, O_RDONLY)),
#endif
};

/* ---- brokerd: after its children are started ---------------------------- */
/* No socket, no bind or connect, no sendmsg (libmicrohttpd's becomes a
 * writev: brokerd/sendmsg.c), no unlink (the socket reaper,
 * brokerd/reaper.c, removes the socket file), no ioctl, setsockopt only
 * for two TCP options.  One profile whichever sockets brokerd serves. */
static const struct sc_rule rules_brokerd[] = {
	/* Reaping the children and the socket reaper.  kill(2) only to
	 * secretd and tokend: sandbox_enter_brokerd adds it with their pids. */
	ALLOW(wait4), ALLOW(waitid),
	/* The listener is bound before the filter is loaded; afterwards
	 * sessions are accepted and each peer is judged by its credentials. */
	ALLOW(accept4), ALLOW_SOCKOPT(getsockopt, SOL_SOCKET, SO_PEERCRED),
	ALLOW_SOCKOPT(getsockopt, SOL_SOCKET, SO_PEERGROUPS),
	/* --http: libmicrohttpd batches a response's pieces and pushes the
	 * last one out (Nagle and corking on the accepted TCP connections):
	 * neither re-routes, marks or binds anything. */
	ALLOW_SOCKOPT(setsockopt, SOL_TCP, TCP_NODELAY), ALLOW_SOCKOPT(setsockopt, SOL_TCP, TCP_CORK),
	/* brokerd opens nothing once started (the audit file is open, the time
	 * zone read): so it cannot read another process's /proc files, such
	 * as the environment of op, which holds the 1Password token.  (Only a
	 * sanitizer build may open read-only, above, to write its reports.) */
};

/* ---- tokend: after its CAs are loaded ----------------------------------- */
static const struct sc_rule rules_tokend[] = {
	/* Non-blocking descriptors (curl's sockets). */
	ALLOW_FCNTL(F_SETFL),
	/* HTTPS to the login endpoint and Graph; DNS over UDP/TCP; netlink
	 * (route only) for getaddrinfo's address-family checks, which sends
	 * to a netlink address (sendto with one) and reads with recvmsg;
	 * unix sockets for glibc's nscd or systemd-resolved lookups; the curl
	 * multi wakeup pair.  No sendmsg: nothing passes a descriptor. */
	ALLOW_IF(socket, ARG_EQ(0, AF_INET)), ALLOW_IF(socket, ARG_EQ(0, AF_INET6)),
	ALLOW_IF(socket, ARG_EQ(0, AF_UNIX)),
	ALLOW_IF2(socket, ARG_EQ(0, AF_NETLINK), ARG_EQ(2, NETLINK_ROUTE)),
	ALLOW(socketpair), ALLOW(connect), ALLOW(bind), ALLOW(getsockname), ALLOW(getpeername),
	ALLOW(sendto), ALLOW(sendmmsg), ALLOW(recvmsg), ALLOW(recvmmsg), ALLOW(pipe2),
	ALLOW(eventfd2), ALLOW(uname),
	/* Socket options curl and the resolver set: keep-alive and Nagle on
	 * TCP, error queues on UDP (glibc), v6-only; SO_ERROR after a
	 * non-blocking connect.  Nothing that binds to a device, marks or
	 * re-routes packets. */
	ALLOW_SOCKOPT(setsockopt, SOL_SOCKET, SO_KEEPALIVE),
	ALLOW_SOCKOPT(setsockopt, SOL_TCP, TCP_NODELAY),
	ALLOW_SOCKOPT(setsockopt, SOL_TCP, TCP_KEEPIDLE),
	ALLOW_SOCKOPT(setsockopt, SOL_TCP, TCP_KEEPINTVL),
	ALLOW_SOCKOPT(setsockopt, SOL_TCP, TCP_KEEPCNT),
	ALLOW_SOCKOPT(setsockopt, SOL_IP, IP_RECVERR),
	ALLOW_SOCKOPT(setsockopt, SOL_IPV6, IPV6_RECVERR),
	ALLOW_SOCKOPT(setsockopt, SOL_IPV6, IPV6_V6ONLY),
	ALLOW_SOCKOPT(getsockopt, SOL_SOCKET, SO_ERROR),
	ALLOW_SOCKOPT(getsockopt, SOL_SOCKET, SO_TYPE),
	/* ioctl only to ask for pending bytes and set non-blocking mode
	 * (chrony, OpenSSH). */
	ALLOW_IF(ioctl, ARG_EQ(1, FIONREAD)), ALLOW_IF(ioctl, ARG_EQ(1, FIONBIO)),
	/* The resolver reads /etc/hosts, resolv.conf, nsswitch: read-only opens
	 * only, nothing created, truncated or appended to. */
	ALLOW_IF(openat, SCMP_A2(SCMP_CMP_MASKED_EQ, RDONLY_MASK, O_RDONLY)),
	ALLOW(stat), ALLOW(access), ALLOW(faccessat), ALLOW(readlink),
	/* getaddrinfo may dlopen the NSS modules nsswitch.conf names (mdns,
	 * resolve, myhostname): executable mappings of files only, which
	 * tokend can open read-only and beneath /etc, /usr and /lib only
	 * (Landlock).  Anonymous memory is never executable (above), and
	 * mprotect never adds PROT_EXEC. */
	ALLOW_IF(mmap, ARG_CLEAR(3, MAP_ANONYMOUS)),
	/* curl's threaded resolver: threads, never processes (clone only with
	 * CLONE_THREAD; clone3 is answered ENOSYS below so glibc uses clone). */
	ALLOW_IF(clone, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)),
	ALLOW(set_robust_list), ALLOW(rseq), ALLOW(sched_getaffinity), ALLOW(membarrier),
	/* prctl for names (a thread's, glibc's anonymous-map names) and to ask
	 * about the filter; never PR_SET_DUMPABLE, which would let any process
	 * of the service user ptrace tokend and read its tokens. */
	ALLOW_IF(prctl, ARG_EQ(0, PR_SET_NAME)), ALLOW_IF(prctl, ARG_EQ(0, PR_GET_NAME)),
	ALLOW_IF(prctl, ARG_EQ(0, PR_SET_VMA)), ALLOW_IF(prctl, ARG_EQ(0, PR_GET_SECCOMP)),
};

/* ---- secretd (its launcher, which starts helpers, has the denylist) ----- */
/* No socket at all, no ioctl, no kill: it talks to its channels and to the
 * launcher, which it created before the filter. */
static const struct sc_rule rules_secretd[] = {
	/* Non-blocking channels. */
	ALLOW_FCNTL(F_SETFL),
	/* Reaping the launcher at the end. */
	ALLOW(wait4),
	/* The file provider: the secret file (or systemd credential) opened
	 * read-only, its owner, mode and POSIX ACL checked; the federated
	 * credential's token file, opened the same way for every login (no
	 * Landlock here: the kubelet's symlinks lead anywhere in the volume). */
	ALLOW_IF(openat, SCMP_A2(SCMP_CMP_MASKED_EQ, RDONLY_MASK, O_RDONLY)),
	ALLOW(fgetxattr),
};

/* ---- brokerd's socket reaper: waits, then removes one socket file ------- */
/* It holds nothing but a pipe's read end: read until EOF, lstat the path,
 * unlink it if it is still brokerd's socket, exit. */
static const struct sc_rule rules_socket_reaper[] = {
	ALLOW(read), ALLOW(close), ALLOW(newfstatat), ALLOW(lstat), ALLOW(unlink),
	ALLOW(unlinkat), ALLOW(exit), ALLOW(exit_group), ALLOW(rt_sigreturn),
	ALLOW(restart_syscall),
};

/* ---- secretd's launcher, which runs op or a command helper: a denylist -- */
/* The helper inherits the filter, and op (a Go program reaching 1Password
 * over HTTPS) needs what it needs; these it never does.  Killed: */
static const struct sc_rule deny_secretd_helper[] = {
	/* Looking into or steering other processes. */
	DENY(ptrace), DENY(process_vm_readv), DENY(process_vm_writev), DENY(pidfd_getfd),
	/* Kernel and system state. */
	DENY(init_module), DENY(finit_module), DENY(delete_module), DENY(kexec_load),
	DENY(kexec_file_load), DENY(reboot), DENY(swapon), DENY(swapoff), DENY(acct),
	DENY(settimeofday), DENY(clock_settime), DENY(clock_adjtime), DENY(adjtimex),
	DENY(sethostname), DENY(setdomainname), DENY(iopl), DENY(ioperm), DENY(syslog),
	DENY(quotactl), DENY(vhangup),
	/* Namespaces and mounts: unshare and setns, and clone asking for a
	 * new namespace (clone3, whose flags a filter cannot see, is answered
	 * ENOSYS below: glibc and Go fall back to clone). */
	DENY(mount), DENY(umount2), DENY(pivot_root), DENY(chroot), DENY(setns),
	DENY(unshare), DENY(open_tree), DENY(move_mount), DENY(fsopen), DENY(fsconfig),
	DENY(fsmount), DENY(fspick), DENY(mount_setattr),
	DENY_IF(clone, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWNS, CLONE_NEWNS)),
	DENY_IF(clone, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWCGROUP, CLONE_NEWCGROUP)),
	DENY_IF(clone, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUTS, CLONE_NEWUTS)),
	DENY_IF(clone, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWIPC, CLONE_NEWIPC)),
	DENY_IF(clone, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER)),
	DENY_IF(clone, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWPID, CLONE_NEWPID)),
	DENY_IF(clone, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWNET, CLONE_NEWNET)),
};

/* Refused with EPERM rather than killed: libraries probe for these and
 * fall back (a key-ring or io_uring backend), and a helper that dies on a
 * probe would be worse than one that takes the other path. */
static const struct sc_rule refuse_secretd_helper[] = {
	/* Kernel interfaces with a record of privilege escalations. */
	DENY(bpf), DENY(perf_event_open), DENY(userfaultfd), DENY(name_to_handle_at),
	DENY(open_by_handle_at), DENY(io_uring_setup), DENY(io_uring_enter),
	DENY(io_uring_register),
	/* The kernel key ring: a secret store of its own, out of secretd's
	 * sight (a helper that wants it is told no). */
	DENY(keyctl), DENY(add_key), DENY(request_key),
};

/* Adds rules with action: SCMP_ACT_ALLOW for an allowlist's ALLOW entries,
 * the kill (or debug trap) action or an errno for a denylist's DENY ones. */
static int
sandbox_add_action(scmp_filter_ctx ctx, uint32_t action, const struct sc_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(rules[i].name);
		if (nr == __NR_SCMP_ERROR) {
			/* Not a syscall here, or one this libseccomp does not know:
			 * harmless in an allowlist, a gap in a denylist. */
			if (action != SCMP_ACT_ALLOW)
				log_warnx("seccomp: %s is unknown to libseccomp: not denied", rules[i].name);
			continue;
		}
		if (seccomp_rule_add_array(ctx, action, nr, rules[i].argc, rules[i].arg) < 0) {
			log_warnx("seccomp rule for %s", rules[i].name);
			return -1;
		}
	}
	return 0;
}

static int
sandbox_add(scmp_filter_ctx ctx, const struct sc_rule *rules, size_t n)
{
	return sandbox_add_action(ctx, SCMP_ACT_ALLOW, rules, n);
}

#ifdef SECCOMP_DEBUG
/* Debug builds trap instead of killing, and say which call it was. */
static void
sandbox_report(int sig, siginfo_t *si, void *ctx)
{
	char msg[128];
	int n;

	(void)sig;
	(void)ctx;
	n = snprintf(msg, sizeof(msg), "%s[%ld]: seccomp: forbidden syscall %d\n", log_procname(),
	    (long)getpid(), si->si_syscall);
	(void)!write(STDERR_FILENO, msg, (size_t)n);
	_exit(159);
}

static uint32_t
sandbox_default_action(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sandbox_report;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSYS, &sa, NULL);
	return SCMP_ACT_TRAP;
}
#else
static uint32_t
sandbox_default_action(void)
{
	return SCMP_ACT_KILL_PROCESS;
}
#endif

bool
sandbox_available(void)
{
#ifdef NO_SECCOMP
	return false;
#else
	return true;
#endif
}

const char *
sandbox_profile_name(enum sandbox_profile profile)
{
	static const char *const names[] = { "brokerd", "tokend", "secretd", "secretd-launch",
		"socket-reaper" };

	return names[profile];
}

/* ---- Landlock: what tokend may read ------------------------------------ */
/* tokend's CAs are loaded before it is sandboxed; afterwards only the
 * resolver reads files (hosts, resolv.conf, nsswitch.conf and the NSS
 * modules it names).  Nothing else, /proc included: while op runs, its
 * environment holds the 1Password token, and any process of the service
 * user that may open /proc/PID/environ can read it. */
static const char *const tokend_readable[] = { "/etc", "/usr", "/lib", "/lib64" };

/* Every filesystem right of Landlock ABI 1: all handled, so all denied
 * but what a rule grants. */
#define LANDLOCK_FS_ABI1 ((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1)
#define LANDLOCK_FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)

int
sandbox_landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	return abi < 0 ? 0 : (int)abi;
}

/* Read-only access beneath each of paths, nothing else on the filesystem.
 * A kernel without Landlock (before 5.13, or not enabled) gets a warning:
 * the seccomp filter still allows no write and no process. */
static void
sandbox_landlock(const char *who, const char *const *paths, size_t n)
{
	struct landlock_ruleset_attr attr = { .handled_access_fs = LANDLOCK_FS_ABI1 };
	int rs, fd;

	if (sandbox_landlock_abi() < 1) {
		log_warnx("Landlock is not available in this kernel: %s may read any file its user "
			  "can",
		    who);
		return;
	}
	if ((rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0)) == -1)
		fatal("landlock_create_ruleset");
	for (size_t i = 0; i < n; i++) {
		struct landlock_path_beneath_attr rule = { .allowed_access = LANDLOCK_FS_READ };
		if ((fd = open(paths[i], O_PATH | O_CLOEXEC)) == -1)
			continue; /* not on this system (/lib64 on some) */
		rule.parent_fd = fd;
		if (syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) == -1)
			fatal("landlock_add_rule %s", paths[i]);
		close(fd);
	}
	if (syscall(SYS_landlock_restrict_self, rs, 0) == -1)
		fatal("landlock_restrict_self");
	close(rs);
}

#define N(rules) (sizeof(rules) / sizeof(rules[0]))

/* Rules that name a process or a descriptor: built from what is known only
 * at run time. */
static int
sandbox_add_pids(scmp_filter_ctx ctx, enum sandbox_profile profile, const pid_t *kids, size_t n,
    int audit_fd)
{
	int rc = 0;

	if (profile == SANDBOX_SOCKET_REAPER)
		return 0;
	/* abort() signals this process (tgkill with its own tgid), nothing
	 * else; tkill, which names no process, not at all. */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, ARG_EQ(0, getpid()));
	/* brokerd stops its children, and no other process. */
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, ARG_EQ(0, kids[i]));
	/* brokerd makes accepted sockets non-blocking; never the audit sink,
	 * whose O_APPEND is what keeps written records from being overwritten
	 * (lseek is allowed, and a write at an offset would replace history). */
	if (rc == 0 && profile == SANDBOX_BROKERD)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 2, ARG_EQ(1, F_SETFL),
		    SCMP_CMP(0, SCMP_CMP_NE, (scmp_datum_t)audit_fd, 0));
	return rc;
}

/* The allowlist for profile. */
static int
sandbox_add_profile(scmp_filter_ctx ctx, enum sandbox_profile profile)
{
	int rc;

	if (profile == SANDBOX_SOCKET_REAPER) {
		rc = sandbox_add(ctx, rules_socket_reaper, N(rules_socket_reaper));
#ifdef MAB_SANITIZED
		if (rc == 0) /* the runtime's own needs, as everywhere */
			rc = sandbox_add(ctx, rules_common, N(rules_common));
#endif
		return rc;
	}
	rc = sandbox_add(ctx, rules_common, N(rules_common));
	if (rc == 0 && profile == SANDBOX_BROKERD)
		rc = sandbox_add(ctx, rules_brokerd, N(rules_brokerd));
	if (rc == 0 && profile == SANDBOX_SECRETD)
		rc = sandbox_add(ctx, rules_secretd, N(rules_secretd));
	if (rc == 0 && profile == SANDBOX_TOKEND)
		rc = sandbox_add(ctx, rules_tokend, N(rules_tokend));
	/* glibc falls back to clone(2), whose flags the filter can inspect. */
	if (rc == 0 && profile == SANDBOX_TOKEND)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	return rc;
}

/* The filter for profile, or NULL; kids: the processes kill(2) may reach. */
static scmp_filter_ctx
sandbox_build(enum sandbox_profile profile, const pid_t *kids, size_t n, int audit_fd)
{
	uint32_t deny = sandbox_default_action();
	scmp_filter_ctx ctx;
	int rc;

	if (profile == SANDBOX_SECRETD_HELPER) {
		if ((ctx = seccomp_init(SCMP_ACT_ALLOW)) == NULL)
			return NULL;
		rc = sandbox_add_action(ctx, deny, deny_secretd_helper, N(deny_secretd_helper));
		if (rc == 0)
			rc = sandbox_add_action(ctx, SCMP_ACT_ERRNO(EPERM), refuse_secretd_helper,
			    N(refuse_secretd_helper));
		if (rc == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	} else {
		if ((ctx = seccomp_init(deny)) == NULL)
			return NULL;
		rc = sandbox_add_profile(ctx, profile);
		if (rc == 0)
			rc = sandbox_add_pids(ctx, profile, kids, n, audit_fd);
	}
	if (rc != 0) {
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

static void
sandbox_load(enum sandbox_profile profile, const pid_t *kids, size_t n, int audit_fd)
{
	scmp_filter_ctx ctx;
	int rc;

#ifdef NO_SECCOMP
	(void)kids;
	(void)n;
	log_warnx("built with --disable-seccomp: no %s filter loaded (valgrind test build)",
	    sandbox_profile_name(profile));
	return;
#endif
	/* glibc reads the time zone file on the first gmtime_r or strftime;
	 * brokerd's filter allows no open at all, so it is read now. */
	tzset();
	if (profile == SANDBOX_TOKEND)
		sandbox_landlock("tokend", tokend_readable, N(tokend_readable));
	if ((ctx = sandbox_build(profile, kids, n, audit_fd)) == NULL)
		fatalx("cannot build the %s seccomp filter", sandbox_profile_name(profile));
	if ((rc = seccomp_load(ctx)) != 0)
		fatalx("cannot load the %s seccomp filter: %s", sandbox_profile_name(profile),
		    strerror(-rc));
	seccomp_release(ctx);
	if (profile != SANDBOX_SOCKET_REAPER) /* it may not even write to stderr */
		log_debug("seccomp filter loaded (%s)", sandbox_profile_name(profile));
}

void
sandbox_enter(enum sandbox_profile profile)
{
	sandbox_load(profile, NULL, 0, -1);
}

void
sandbox_enter_brokerd(const pid_t *children, size_t n, int audit_fd)
{
	sandbox_load(SANDBOX_BROKERD, children, n, audit_fd);
}
