/*
 * orchion-spawn: the agent's exec wrapper. The agent starts it with libuv
 * (uv_spawn: pipes, its own session and process group) for every job when it
 * is there (it must be when a job starts inside a cgroup or as another user),
 * in the agent's working directory and with the job's environment only under
 * the prefix "ORCHION_JOB:" (ORCHION_JOB:LD_PRELOAD=...): it runs as the
 * agent (root) until step 3, so nothing the job chose may reach it before
 * then (LD_PRELOAD or GLIBC_TUNABLES for the loader, a working directory
 * inside a tree its user could not enter). Not as arguments: anyone may read
 * a process's command line, only its owner its environment. It then does,
 * in this one process and in this order, what uv_spawn cannot:
 *
 *   0. closes every file descriptor above 2 (close_range, else one by one):
 *      the job gets its three standard streams and nothing else the agent
 *      or an executor plugin holds, close-on-exec or not;
 *   1. -c DIR: joins the cgroup DIR by writing "0" (the writer itself) to
 *      DIR/cgroup.procs, so the job runs under its memory.max and cpu.max
 *      from its first instruction, and every process it forks is counted;
 *   2. -G LIST: setgroups(LIST), the user's supplementary groups as the
 *      agent computed them off its event loop (getgrouplist, what
 *      initgroups(3) would set); uv_spawn's own setuid path clears them.
 *      With -u or -g and no -G, only the new primary group is kept, never
 *      the agent's own groups;
 *   3. -g GID, -u UID: setgid, then setuid (after setgroups, which needs
 *      the privilege that setuid drops), and checks they cannot be undone;
 *   4. -d DIR: chdir(DIR) as the job's user (so the kernel checks that user
 *      may reach it); with -u and no -d, chdir("/");
 *   5. execvp(FILE, ARGV) with the job's environment: the ORCHION_JOB:
 *      entries without their prefix, nothing else (PATH among them is what
 *      FILE is looked up in).
 *
 * Usage: orchion-spawn [-c DIR] [-G g1,g2,...] [-g GID -u UID] [-d DIR] -- FILE ARGV0 [ARG...]
 *
 * It is replaced by the job (same pid, same process group), so it costs one
 * extra execve and no process. On failure it writes "orchion-spawn: ..." to
 * stderr (the job's stderr pipe) and exits with 125 (setup failed: nothing
 * of the job ran), 126 (the file could not be executed) or 127 (not found),
 * the shell's conventions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define SETUP_FAILED 125
#define MAX_GROUPS 65536

static void fail(int code, const char *what, const char *detail) {
  fprintf(stderr, "orchion-spawn: %s%s%s: %s\n", what, detail ? " " : "", detail ? detail : "", strerror(errno));
  exit(code);
}

static void usage(const char *problem) {
  fprintf(stderr,
          "orchion-spawn: %s; usage: orchion-spawn [-c DIR] [-G g1,g2,...] [-g GID -u UID] [-d DIR] "
          "-- FILE ARGV0 [ARG...]\n",
          problem);
  exit(SETUP_FAILED);
}

/* A decimal id below (uid_t)-1, or exits. */
static unsigned long parse_id(const char *text) {
  char *end = NULL;
  errno = 0;
  unsigned long value = strtoul(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || value >= (unsigned long)(uid_t)-1) {
    usage("expected a decimal user or group id");
  }
  return value;
}

static void close_descriptors(void) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0) return;
#endif
  long limit = sysconf(_SC_OPEN_MAX);
  if (limit < 0 || limit > 1 << 20) limit = 1 << 20;
  for (long fd = 3; fd < limit; fd++) close((int)fd);
}

static void join_cgroup(const char *dir) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/cgroup.procs", dir) >= (int)sizeof path) {
    errno = ENAMETOOLONG;
    fail(SETUP_FAILED, "cannot join cgroup", dir);
  }
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail(SETUP_FAILED, "cannot open", path);
  if (write(fd, "0", 1) != 1) fail(SETUP_FAILED, "cannot join cgroup", dir);
  close(fd);
}

static void set_groups(const char *list) {
  static gid_t groups[MAX_GROUPS];
  size_t count = 0;
  char *copy = strdup(list);
  if (copy == NULL) fail(SETUP_FAILED, "cannot set supplementary groups", NULL);
  for (char *save = NULL, *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    if (count == MAX_GROUPS) usage("expected at most 65536 supplementary groups");
    groups[count++] = (gid_t)parse_id(item);
  }
  free(copy);
  if (setgroups(count, groups) != 0) fail(SETUP_FAILED, "cannot set supplementary groups", list);
}

int main(int argc, char **argv) {
  const char *cgroup = NULL, *groups = NULL, *directory = NULL;
  long uid = -1, gid = -1;
  int index = 1;
  for (; index < argc; index++) {
    const char *arg = argv[index];
    if (strcmp(arg, "--") == 0) {
      index++;
      break;
    }
    if (index + 1 >= argc) usage("an option without its value");
    const char *value = argv[++index];
    if (strcmp(arg, "-c") == 0) cgroup = value;
    else if (strcmp(arg, "-G") == 0) groups = value;
    else if (strcmp(arg, "-g") == 0) gid = (long)parse_id(value);
    else if (strcmp(arg, "-u") == 0) uid = (long)parse_id(value);
    else if (strcmp(arg, "-d") == 0) directory = value;
    else usage("unknown option");
  }
  if (argc - index < 2) usage("expected FILE and ARGV0 after --");
  /* Both or neither: a user without its group would keep the agent's (root). */
  if ((uid >= 0) != (gid >= 0)) usage("expected -u and -g together");
  /* The job's environment: the ORCHION_JOB: entries of this one, unprefixed. */
  extern char **environ;
  static const char prefix[] = "ORCHION_JOB:";
  size_t count = 0;
  while (environ[count]) count++;
  char **environment = calloc(count + 1, sizeof *environment);
  if (environment == NULL) fail(SETUP_FAILED, "cannot allocate the environment", NULL);
  size_t variables = 0;
  for (size_t i = 0; i < count; i++) {
    if (strncmp(environ[i], prefix, sizeof prefix - 1) == 0) environment[variables++] = environ[i] + sizeof prefix - 1;
  }
  const char *file = argv[index];
  char **job = argv + index + 1;

  close_descriptors();
  if (cgroup) join_cgroup(cgroup);
  if (groups) {
    set_groups(groups);
  } else if (gid >= 0 || uid >= 0) {
    /* Switching ids without a list: keep none of the agent's groups. */
    gid_t only = (gid_t)(gid >= 0 ? gid : (long)getgid());
    if (setgroups(1, &only) != 0) fail(SETUP_FAILED, "cannot set supplementary groups", NULL);
  }
  if (gid >= 0 && setgid((gid_t)gid) != 0) fail(SETUP_FAILED, "cannot set group id", NULL);
  if (uid >= 0) {
    if (setuid((uid_t)uid) != 0) fail(SETUP_FAILED, "cannot set user id", NULL);
    if (uid != 0 && setuid(0) == 0) {
      errno = EPERM;
      fail(SETUP_FAILED, "could regain root after dropping it", NULL);
    }
  }
  if (directory ? chdir(directory) != 0 : uid >= 0 && chdir("/") != 0) {
    fail(SETUP_FAILED, "cannot enter the working directory", directory ? directory : "/");
  }
  environ = environment;
  execvp(file, job);
  fail(errno == ENOENT ? 127 : 126, "cannot execute", file);
  return SETUP_FAILED;
}
