#ifndef ORCHION_CLIBUV_SHIM_H
#define ORCHION_CLIBUV_SHIM_H
#include <uv.h>
#include <signal.h>

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

#endif
