#ifndef ORCHION_CLIBUV_SHIM_H
#define ORCHION_CLIBUV_SHIM_H
#include <uv.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Helpers for what Swift cannot express directly (unions, macros). No logic. */

static inline void orchion_uv_stdio_ignore(uv_stdio_container_t *c) {
  c->flags = UV_IGNORE;
  c->data.stream = NULL;
}

static inline void orchion_uv_stdio_pipe(uv_stdio_container_t *c,
                                         uv_pipe_t *pipe, int child_reads) {
  c->flags = (uv_stdio_flags)(UV_CREATE_PIPE |
                              (child_reads ? UV_READABLE_PIPE : UV_WRITABLE_PIPE));
  c->data.stream = (uv_stream_t *)pipe;
}

/* Sets RLIMIT_AS of another process (prlimit(2) without _GNU_SOURCE). */
static inline int orchion_set_memory_limit(int pid, unsigned long long bytes) {
  struct rlimit limit = {(rlim_t)bytes, (rlim_t)bytes};
  return (int)syscall(SYS_prlimit64, pid, RLIMIT_AS, &limit, NULL);
}

#endif
