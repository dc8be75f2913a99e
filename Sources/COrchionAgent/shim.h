#ifndef ORCHION_AGENT_SHIM_H
#define ORCHION_AGENT_SHIM_H
#include <stddef.h>
#include <sys/types.h>
#include <sys/xattr.h>

/* Helpers for what the Glibc module does not export. No logic. */

/* Whether `path` carries extended attribute `name` (getxattr(2) with no buffer). */
static inline int orchion_has_xattr(const char *path, const char *name) {
  return getxattr(path, name, NULL, 0) >= 0;
}

#endif
