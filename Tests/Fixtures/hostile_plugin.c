/*
 * A scheduler plugin that misbehaves in one chosen way, compiled by the tests
 * with -D flags into real shared objects (see Tests/Fixtures/fixture_plugin.c
 * for the well-behaved one).
 *
 *   HOSTILE_NAME / HOSTILE_VERSION / HOSTILE_DESCRIPTION   descriptor strings
 *   HOSTILE_CTOR_EXIT=n     a constructor calls exit(n)
 *   HOSTILE_CTOR_SEGV       a constructor writes through a bad pointer
 *   HOSTILE_CTOR_HANG       a constructor never returns
 *   HOSTILE_CTOR_STDOUT     a constructor prints a forged JSON line on stdout
 *   HOSTILE_CTOR_DAEMON     a constructor leaves a detached grandchild (setsid,
 *                           SIGTERM blocked) holding every inherited descriptor
 *                           for 20 s; it writes its pid to $HOSTILE_DAEMON_PID_FILE
 *   HOSTILE_CTOR_CLOSE_ANSWER  a constructor closes descriptor 3
 *   HOSTILE_INIT_EXIT=n     init calls exit(n)
 *   HOSTILE_DATA_ENTRY      orchion_plugin_entry is a data object, not a function
 *   HOSTILE_DESCRIPTOR_SIZE descriptor struct_size claimed
 *   HOSTILE_VTABLE_SIZE     vtable struct_size claimed
 *   HOSTILE_UNTERMINATED    the name has no NUL within 200 bytes
 *   HOSTILE_GARBAGE_PLACE   the vtable's place is an address no code is at
 *   HOSTILE_PLACE=mode      0: pending with a reason, 1: pending with an empty
 *                           reason, 2: first not-ready node, 3: sleeps 300 ms,
 *                           4: never returns
 */
#ifdef HOSTILE_DATA_ENTRY

/* The entry's name on a data object: calling it would jump into data. */
__attribute__((visibility("default"))) const unsigned char orchion_plugin_entry[64] = {0xC3};

#else

#define _POSIX_C_SOURCE 200809L
#include <orchion/plugin.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef HOSTILE_NAME
#define HOSTILE_NAME "hostile"
#endif
#ifndef HOSTILE_VERSION
#define HOSTILE_VERSION "0.0.1"
#endif
#ifndef HOSTILE_DESCRIPTION
#define HOSTILE_DESCRIPTION "misbehaves on purpose"
#endif
#ifndef HOSTILE_DESCRIPTOR_SIZE
#define HOSTILE_DESCRIPTOR_SIZE sizeof(orchion_plugin_descriptor)
#endif
#ifndef HOSTILE_VTABLE_SIZE
#define HOSTILE_VTABLE_SIZE sizeof(orchion_scheduler_vtable)
#endif
#ifndef HOSTILE_PLACE
#define HOSTILE_PLACE 0
#endif

__attribute__((constructor)) static void hostile_constructor(void) {
#if defined(HOSTILE_CTOR_EXIT)
  exit(HOSTILE_CTOR_EXIT);
#elif defined(HOSTILE_CTOR_SEGV)
  *(volatile int *)(uintptr_t)16 = 1;
#elif defined(HOSTILE_CTOR_HANG)
  for (;;) pause();
#elif defined(HOSTILE_CTOR_STDOUT)
  printf("{\"forged\": true}\n");
  fflush(stdout);
#elif defined(HOSTILE_CTOR_DAEMON)
  int ready[2];
  if (pipe(ready) != 0) return;
  pid_t middle = fork();
  if (middle == 0) {
    setsid();
    if (fork() == 0) {
      sigset_t term;
      sigemptyset(&term);
      sigaddset(&term, SIGTERM);
      sigprocmask(SIG_BLOCK, &term, NULL);
      const char *path = getenv("HOSTILE_DAEMON_PID_FILE");
      FILE *out = path ? fopen(path, "w") : NULL;
      if (out) {
        fprintf(out, "%ld\n", (long)getpid());
        fclose(out);
      }
      close(ready[1]);
      struct timespec left = {20, 0};
      while (nanosleep(&left, &left) != 0) {}
      _exit(0);
    }
    _exit(0);
  }
  /* Returns once the grandchild wrote its pid (it closed its end). */
  close(ready[1]);
  char byte;
  while (read(ready[0], &byte, 1) > 0) {}
  close(ready[0]);
  int status;
  waitpid(middle, &status, 0);
#elif defined(HOSTILE_CTOR_CLOSE_ANSWER)
  close(3);
#endif
}

static orchion_status hostile_init(const orchion_host_api *host, void **state,
                                   char *error, size_t error_size) {
  (void)host;
  (void)error;
  (void)error_size;
#ifdef HOSTILE_INIT_EXIT
  exit(HOSTILE_INIT_EXIT);
#endif
  *state = NULL;
  return ORCHION_OK;
}

static void hostile_destroy(void *state) { (void)state; }

__attribute__((unused))  /* HOSTILE_GARBAGE_PLACE leaves it out of the vtable */
static orchion_status hostile_place(void *state, const orchion_cluster_view *cluster,
                                    const orchion_job_batch *batch,
                                    orchion_placement_batch *out, char *error,
                                    size_t error_size) {
  (void)state;
  (void)error;
  (void)error_size;
  if (HOSTILE_PLACE == 4) {
    for (;;) pause();
  }
  if (HOSTILE_PLACE == 3) {
    struct timespec pause_for = {0, 300 * 1000 * 1000};
    nanosleep(&pause_for, NULL);
  }
  int64_t not_ready = -1;
  for (size_t n = 0; n < cluster->node_count; n++) {
    const orchion_node *node = ORCHION_AT(const orchion_node, cluster->nodes, cluster->node_size, n);
    if (node->state != ORCHION_NODE_READY) { not_ready = (int64_t)n; break; }
  }
  for (size_t j = 0; j < batch->job_count; j++) {
    orchion_placement *answer = ORCHION_AT(orchion_placement, out->placements, out->placement_size, j);
    answer->node_index = -1;
    if (HOSTILE_PLACE == 1) {
      answer->reason[0] = '\0';
    } else if (HOSTILE_PLACE == 2 && not_ready >= 0) {
      answer->node_index = not_ready;
    } else {
      snprintf(answer->reason, sizeof answer->reason, "hostile places nothing");
    }
  }
  return ORCHION_OK;
}

static const orchion_scheduler_vtable vtable = {
    .struct_size = HOSTILE_VTABLE_SIZE,
    .init = hostile_init,
    .destroy = hostile_destroy,
#ifdef HOSTILE_GARBAGE_PLACE
    .place = (orchion_status(*)(void *, const orchion_cluster_view *, const orchion_job_batch *,
                                orchion_placement_batch *, char *, size_t))(uintptr_t)0x41414141,
#else
    .place = hostile_place,
#endif
};

#ifdef HOSTILE_UNTERMINATED
static const char long_name[200] = {[0 ... 199] = 'a'};
__attribute__((used)) static const char after_name[8] = "tail";
#define DESCRIPTOR_NAME long_name
#else
#define DESCRIPTOR_NAME HOSTILE_NAME
#endif

static const orchion_plugin_descriptor descriptor = {
    .struct_size = HOSTILE_DESCRIPTOR_SIZE,
    .abi_major = ORCHION_PLUGIN_ABI_MAJOR,
    .abi_minor = ORCHION_PLUGIN_ABI_MINOR,
    .kind = ORCHION_KIND_SCHEDULER,
    .name = DESCRIPTOR_NAME,
    .version = HOSTILE_VERSION,
    .description = HOSTILE_DESCRIPTION,
    .vtable = &vtable,
};

ORCHION_EXPORT const orchion_plugin_descriptor *orchion_plugin_entry(void) { return &descriptor; }

#endif
