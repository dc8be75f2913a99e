#ifndef ORCHION_AGENT_SHIM_H
#define ORCHION_AGENT_SHIM_H
#include <stddef.h>
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/xattr.h>

/* Helpers for what the Glibc module does not export. No logic. */

/* Whether `path` carries extended attribute `name` (getxattr(2) with no buffer). */
static inline int orchion_has_xattr(const char *path, const char *name) {
  return getxattr(path, name, NULL, 0) >= 0;
}

/* Asks for `signal` when the thread that started this process exits
   (prctl(2) PR_SET_PDEATHSIG; variadic, so not imported by Swift). */
static inline int orchion_set_parent_death_signal(int signal) {
  return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0UL, 0UL, 0UL);
}

#endif
