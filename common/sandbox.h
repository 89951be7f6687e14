/* seccomp allowlists (STYLE.md: tables grouped by purpose, a comment per
 * group).  The default action kills the process; ./configure
 * --enable-seccomp-debug makes a violation report the syscall instead. */
#ifndef MAB_SANDBOX_H
#define MAB_SANDBOX_H

#include <stdbool.h>

enum sandbox_profile {
	SANDBOX_BROKERD, /* no network sockets, no execve, no new processes */
	SANDBOX_TOKEND,	 /* network, read-only opens, threads but no processes, no execve */
};

/* Loads the filter for profile; fatal on failure.  Everything that needs a
 * forbidden call (opening files for writing, spawning) must happen before. */
void sandbox_enter(enum sandbox_profile profile);
const char *sandbox_profile_name(enum sandbox_profile profile);
/* False in a --disable-seccomp build. */
bool sandbox_available(void);

#endif
