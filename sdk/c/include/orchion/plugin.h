/*
 * orchion/plugin.h — the Orchion plugin ABI, version 1.0.
 *
 * This is the only header a plugin needs. A plugin is a shared object
 * (`cc -shared -fPIC`) that exports one function, `orchion_plugin_entry`,
 * returning a pointer to a constant descriptor. The descriptor names the
 * plugin and points at the vtable of its kind: a scheduler (places batches of
 * pending jobs onto nodes) or an executor (turns a job into a process launch
 * and classifies how that process ended).
 *
 * Compatibility rules (see docs/plugin-abi.md, which keeps the changelog):
 *   - The host loads a plugin only when the plugin's ABI major equals the
 *     host's and the plugin's ABI minor is not greater than the host's.
 *   - Every struct that crosses the boundary starts with, or is described by,
 *     a size. Structs only ever grow at their end; a new field is marked with
 *     the minor it appeared in. A reader never touches bytes beyond the size
 *     it was given.
 *   - The host checks the declared size of the descriptor and of the vtable
 *     (`struct_size`, at least the 1.0 size) before it reads any other field
 *     of that struct, and reads a field added in a later minor only when the
 *     declared size covers it. A plugin sets `struct_size` to its own
 *     sizeof and never to anything larger than the object it points at.
 *   - Arrays of structs are indexed with the element size the host passes
 *     (`node_size`, `job_size`, `placement_size`, `label_size`, `gpu_size`,
 *     `constraint_size`, `env_size`), never with sizeof on the plugin's side;
 *     use the ORCHION_AT() macro.
 *   - The sizes below are asserted for LP64 targets (x86_64 and aarch64
 *     Linux); they are the 1.0 sizes and the host's minimum.
 *
 * Loading: the host calls `dlopen` on the file, and `dlopen` runs the
 * library's constructors (C `__attribute__((constructor))`, C++ static
 * initialisers, Rust `.init_array` entries) BEFORE the host has checked
 * anything — the entry symbol, the ABI version, the descriptor. Constructors
 * must therefore do nothing but initialise memory: no output (stdout belongs
 * to the host), no threads, no `exit()`.
 *
 * Threading (what the host guarantees, and what it asks):
 *   - The host never calls one instance from two threads at once. Every call
 *     into an instance (init, the kind's functions, destroy) returns before
 *     the next call into that instance starts, but consecutive calls may come
 *     from different threads.
 *   - Scheduler instances are created, called and destroyed on the host's
 *     scheduler thread, executor instances on a thread of their own; neither
 *     ever runs on the host's I/O loop thread. Each call is timed; a
 *     `place` that runs past the host's time budget gets its plugin
 *     quarantined (the built-in strategy takes over), and one that never
 *     returns has its thread abandoned after the host's hang limit.
 *   - Different instances — of one plugin or of several — may be called at
 *     the same time from different threads, so a plugin's global state must
 *     be thread-safe (or absent: keep state in the instance).
 *   - `orchion_plugin_entry()` may run on any thread, including a worker
 *     pool thread while the host hot-loads a new file, concurrently with
 *     calls into other plugins. It must only return the constant descriptor.
 *   - A plugin may start threads of its own, but must not call the host's
 *     `log` or `metric` from them: see orchion_host_api.
 *   - Do not block longer than needed: no network waits or sleeping.
 *
 * Ownership: a pointer the host passes in is borrowed for the duration of the
 * call unless stated otherwise. A pointer the plugin returns stays owned by
 * the plugin; its lifetime is stated for each function. A pointer (field or
 * argument) is never NULL unless its comment says when it may be.
 *
 * Declaring the entry:
 *   C:    ORCHION_EXPORT const orchion_plugin_descriptor *
 *             orchion_plugin_entry(void) { return &descriptor; }
 *   C++:  this header wraps its declarations in `extern "C"`, so including it
 *         and defining the function as in C gives it C linkage; a definition
 *         in a file that does not include the header must be spelled
 *         `extern "C" ORCHION_EXPORT const orchion_plugin_descriptor *
 *         orchion_plugin_entry(void)`. Let no exception leave any function
 *         the host calls (mark them `noexcept`).
 *   Rust: `#[no_mangle] pub extern "C" fn orchion_plugin_entry()
 *             -> *const Descriptor` in a `crate-type = ["cdylib"]` crate,
 *         with `#[repr(C)]` mirrors of these structs, and no panic unwinding
 *         out of an `extern "C"` function (catch it, or `panic = "abort"`).
 *         sdk/c/examples/rust/ is a complete, tested example.
 */
#ifndef ORCHION_PLUGIN_H
#define ORCHION_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI major version. Plugins built against another major are refused. */
#define ORCHION_PLUGIN_ABI_MAJOR 1
/** The ABI minor version. The host refuses plugins with a greater minor. */
#define ORCHION_PLUGIN_ABI_MINOR 0

/** The name of the one symbol every plugin exports. */
#define ORCHION_PLUGIN_ENTRY_SYMBOL "orchion_plugin_entry"

/** Indexes an array whose elements are `size` bytes apart. */
#define ORCHION_AT(type, base, size, index) \
  ((type *)((const char *)(base) + (size_t)(size) * (size_t)(index)))

/**
 * Size of the `error` buffer the host passes to init, place and prepare, and
 * of the `reason` buffer it passes to classify, NUL included. Always honour
 * the `error_size` / `reason_size` argument: it is the authoritative bound.
 */
#define ORCHION_ERROR_MAX 512

/** Compile-time size checks that work from C11 and C++11. */
#if defined(__cplusplus)
#define ORCHION_STATIC_ASSERT(condition, message) static_assert(condition, message)
#else
#define ORCHION_STATIC_ASSERT(condition, message) _Static_assert(condition, message)
#endif

/** Exports a symbol with default visibility, whatever -fvisibility says. */
#if defined(__GNUC__)
#define ORCHION_EXPORT __attribute__((visibility("default")))
#else
#define ORCHION_EXPORT
#endif

/** Status codes returned by plugin functions. */
typedef enum orchion_status {
  /** Success. */
  ORCHION_OK = 0,
  /** The input was not acceptable; the error buffer says why. */
  ORCHION_ERR_INVALID = 1,
  /** The plugin could not allocate memory. */
  ORCHION_ERR_NOMEM = 2,
  /** The request needs something this plugin does not support. */
  ORCHION_ERR_UNSUPPORTED = 3,
  /** Any other failure; the error buffer says what. */
  ORCHION_ERR_INTERNAL = 4
} orchion_status;

/** What a plugin is. */
typedef enum orchion_plugin_kind {
  /** Places pending jobs onto nodes; `vtable` is an orchion_scheduler_vtable. */
  ORCHION_KIND_SCHEDULER = 1,
  /** Turns jobs into launches; `vtable` is an orchion_executor_vtable. */
  ORCHION_KIND_EXECUTOR = 2
} orchion_plugin_kind;

/** Severity of a message passed to orchion_host_api.log. */
typedef enum orchion_log_level {
  ORCHION_LOG_DEBUG = 0,
  ORCHION_LOG_INFO = 1,
  ORCHION_LOG_WARN = 2,
  ORCHION_LOG_ERROR = 3
} orchion_log_level;

/**
 * The functions the host offers one plugin instance.
 *
 * Each instance gets its own table: the function pointers are bound to that
 * instance by the host, so what a plugin logs or measures is attributed to it
 * without any context argument. The table is owned by the host and stays
 * valid from `init` until `destroy` returns; none of its pointers is NULL.
 *
 * Thread rules: `log` and `metric` are accepted only on the thread the host
 * is calling the instance on, while that call runs. From any other thread (a
 * thread the plugin started) or outside a call they do nothing — the host
 * never runs them concurrently with the instance's other calls — and the
 * host counts them and logs, attributed to the instance, how many it
 * refused. `clock_ns` and `config` may be called from any thread. After
 * `destroy` the functions stay callable and harmless (they do nothing and
 * `config` returns NULL), but a correct plugin does not call them.
 */
typedef struct orchion_host_api {
  /** sizeof(orchion_host_api) as the host knows it. Since 1.0. */
  uint32_t struct_size;
  /** The host's ABI minor. Since 1.0. */
  uint32_t abi_minor;
  /**
   * Writes a log line attributed to this instance. `message` is borrowed for
   * the call and must be NUL-terminated UTF-8. Since 1.0.
   */
  void (*log)(int32_t level, const char *message);
  /**
   * Records a gauge sample named `name` (NUL-terminated, [a-z0-9_]) for this
   * instance. Since 1.0.
   */
  void (*metric)(const char *name, double value);
  /** Monotonic time in nanoseconds. Since 1.0. */
  uint64_t (*clock_ns)(void);
  /**
   * Looks up this instance's configuration value for `key` (NUL-terminated;
   * NULL returns NULL). Returns NULL when the key is not set. The returned
   * string is owned by the host and valid until `destroy` returns. Since 1.0.
   */
  const char *(*config)(const char *key);
} orchion_host_api;

/** A key/value pair: node labels, job constraints, environment variables. */
typedef struct orchion_kv {
  /** NUL-terminated. */
  const char *key;
  /** NUL-terminated. */
  const char *value;
} orchion_kv;

/** An amount of resources. */
typedef struct orchion_resources {
  /** CPU in thousandths of a core (1000 = one core). */
  uint64_t cpu_millis;
  /** Memory in bytes. */
  uint64_t memory_bytes;
  /** Whole GPUs. */
  uint32_t gpus;
  uint32_t reserved;
} orchion_resources;

/** One GPU of a node. */
typedef struct orchion_gpu {
  /** Lower-case vendor, e.g. "nvidia", "amd", "intel". */
  const char *vendor;
  /** Model name as the driver reports it, e.g. "NVIDIA H200". */
  const char *model;
  /** Device memory in bytes. */
  uint64_t memory_bytes;
  /**
   * The device index on its node: what a placement names in `gpus` and what
   * the agent pins. Unique on the node; not necessarily the array position.
   */
  uint32_t index;
  /** Non-zero when a job holds this GPU. */
  uint32_t allocated;
} orchion_gpu;

/** Health of a node as the host sees it. Only READY nodes take new jobs. */
typedef enum orchion_node_state {
  ORCHION_NODE_READY = 0,
  ORCHION_NODE_DRAINING = 1,
  ORCHION_NODE_SUSPECT = 2,
  ORCHION_NODE_DOWN = 3
} orchion_node_state;

/** One node in the cluster view. */
typedef struct orchion_node {
  /** Stable node identifier. */
  const char *id;
  /** CPU architecture as `uname -m` names it ("x86_64", "aarch64"). */
  const char *arch;
  /** An orchion_node_state value. */
  int32_t state;
  uint32_t reserved;
  /** What the node offers to jobs in total. */
  orchion_resources capacity;
  /** What is not held by running or already-placed jobs. */
  orchion_resources free;
  /**
   * The node's labels, sorted by key: `label_count` entries `label_size`
   * bytes apart (index with ORCHION_AT). May be NULL when `label_count` is 0.
   */
  const orchion_kv *labels;
  size_t label_count;
  /** Bytes between consecutive labels. */
  uint32_t label_size;
  /** Bytes between consecutive GPUs. */
  uint32_t gpu_size;
  /**
   * The node's GPUs: `gpu_count` entries `gpu_size` bytes apart (index with
   * ORCHION_AT). May be NULL when `gpu_count` is 0.
   */
  const orchion_gpu *gpus;
  size_t gpu_count;
} orchion_node;

/**
 * The cluster as a scheduler sees it: a contiguous, read-only array of nodes.
 * Owned by the host and valid for the duration of one `place` call. The host
 * keeps it up to date incrementally, so a plugin must not cache pointers into
 * it across calls. Node order is arbitrary but stable between calls unless
 * nodes join or leave.
 */
typedef struct orchion_cluster_view {
  /** sizeof(orchion_cluster_view) as the host knows it. */
  uint32_t struct_size;
  /** Bytes between consecutive nodes; index with ORCHION_AT. */
  uint32_t node_size;
  /** `node_count` nodes; may be NULL when `node_count` is 0. */
  const orchion_node *nodes;
  size_t node_count;
} orchion_cluster_view;

/** What a job asks of a node's GPUs. */
typedef struct orchion_gpu_request {
  /** Number of GPUs; 0 means the job needs none. */
  uint32_t count;
  uint32_t reserved;
  /** Required vendor (lower-case), or NULL for any. */
  const char *vendor;
  /** Required substring of the model name (case-insensitive), or NULL. */
  const char *model;
  /** Minimum memory of each GPU in bytes; 0 for any. */
  uint64_t min_memory_bytes;
} orchion_gpu_request;

/** One pending job to place. */
typedef struct orchion_job {
  /** Job identifier. */
  const char *id;
  /** CPU, memory and GPU count the job needs. `resources.gpus` equals `gpu.count`. */
  orchion_resources resources;
  /** GPU requirements. */
  orchion_gpu_request gpu;
  /** Required architecture, or NULL for any. */
  const char *arch;
  /**
   * Labels the node must carry with exactly these values, sorted by key:
   * `constraint_count` entries `constraint_size` bytes apart (index with
   * ORCHION_AT). May be NULL when `constraint_count` is 0.
   */
  const orchion_kv *constraints;
  size_t constraint_count;
  /** Bytes between consecutive constraints. */
  uint32_t constraint_size;
  /** Higher runs first. The batch is already ordered by priority. */
  int32_t priority;
} orchion_job;

/** A batch of pending jobs. Owned by the host, valid for one `place` call. */
typedef struct orchion_job_batch {
  /** sizeof(orchion_job_batch) as the host knows it. */
  uint32_t struct_size;
  /** Bytes between consecutive jobs; index with ORCHION_AT. */
  uint32_t job_size;
  /** `job_count` jobs; may be NULL when `job_count` is 0. */
  const orchion_job *jobs;
  size_t job_count;
} orchion_job_batch;

/** Longest reason a scheduler may write, including the NUL. */
#define ORCHION_REASON_MAX 160

/**
 * Most GPU indices one placement can name. A job asking for more GPUs than
 * this fits no node; its placement's `gpu_capacity` stops here.
 */
#define ORCHION_PLACEMENT_GPUS_MAX 256

/** The scheduler's answer for one job. */
typedef struct orchion_placement {
  /**
   * Index into the cluster view's nodes, or -1 when the job cannot be placed
   * now (then `reason` says why).
   */
  int64_t node_index;
  /** NUL-terminated reason when node_index is -1; ignored otherwise. */
  char reason[ORCHION_REASON_MAX];
  /**
   * Host-owned room for the device indices (orchion_gpu.index) of the GPUs
   * this placement takes on its node: `gpu_capacity` entries. NULL when the
   * job needs no GPUs. Write at most `gpu_capacity` entries, and do not
   * change this pointer or `gpu_capacity` (the host ignores such changes).
   */
  uint32_t *gpus;
  /**
   * How many entries `gpus` has room for: the job's `gpu.count`, at most
   * ORCHION_PLACEMENT_GPUS_MAX.
   */
  uint32_t gpu_capacity;
  /**
   * How many GPU indices the plugin wrote: the job's `gpu.count`, or 0 to
   * let the host choose (the first free matching GPUs in the order the node
   * lists them). The host refuses a placement whose named GPUs do not exist
   * on the node, are named twice, are not free after the batch's earlier
   * placements, do not match the job's GPU request, or whose count is
   * neither 0 nor `gpu.count`. Preset to 0.
   */
  uint32_t gpu_count;
} orchion_placement;

/** The answers for a batch: one placement per job, in the batch's order. */
typedef struct orchion_placement_batch {
  /** sizeof(orchion_placement_batch) as the host knows it. */
  uint32_t struct_size;
  /** Bytes between consecutive placements; index with ORCHION_AT. */
  uint32_t placement_size;
  /**
   * Host-owned; `count` entries (the batch's `job_count`), preset to
   * node_index -1, an empty reason and gpu_count 0. May be NULL when `count`
   * is 0.
   */
  orchion_placement *placements;
  size_t count;
} orchion_placement_batch;

/**
 * Creates an instance. Called once per instance, on the thread the instance
 * will be used on (the scheduler thread for schedulers). `host` stays valid
 * until `destroy` returns. `*state` is preset to NULL; on success the plugin
 * stores its private state there (NULL is allowed) and returns ORCHION_OK.
 * On failure it writes a NUL-terminated message of at most `error_size`
 * (ORCHION_ERROR_MAX) bytes to `error`, which the host reports verbatim, and
 * returns another status. After a failed init the host does NOT call
 * `destroy`: init frees whatever it allocated before returning the failure.
 */
typedef orchion_status (*orchion_init_fn)(const orchion_host_api *host,
                                          void **state, char *error,
                                          size_t error_size);

/**
 * Destroys an instance; `state` is what a successful init stored (possibly
 * NULL). Called exactly once per successful init, after the instance's last
 * other call, and never after a failed init.
 */
typedef void (*orchion_destroy_fn)(void *state);

/**
 * The functions of a scheduler plugin. Since 1.0.
 *
 * The host reads `struct_size` first and refuses the plugin when it is less
 * than the 1.0 size; it reads no other field before that check, and reads a
 * field added in a later minor only when `struct_size` covers it.
 */
typedef struct orchion_scheduler_vtable {
  /** sizeof(orchion_scheduler_vtable) as the plugin knows it. */
  uint32_t struct_size;
  uint32_t reserved;
  /** Required. */
  orchion_init_fn init;
  /** Required. */
  orchion_destroy_fn destroy;
  /**
   * Places a batch of jobs. Required.
   *
   * The plugin writes one placement per job into `out`, in batch order,
   * optionally naming the GPUs each one takes. Jobs placed earlier in the
   * same batch consume resources and GPUs: the plugin accounts for them
   * itself (the view does not change during the call). The host checks every
   * placement before it acts on it: a placement onto a missing, unready or
   * too-small node, one that breaks a constraint, or one naming GPUs it may
   * not take is refused and counted against the plugin. The call is timed
   * against the host's budget. Returns ORCHION_OK, or another status with a
   * message in `error` (`error_size` bytes, ORCHION_ERROR_MAX) when the whole
   * batch failed.
   */
  orchion_status (*place)(void *state, const orchion_cluster_view *cluster,
                          const orchion_job_batch *batch,
                          orchion_placement_batch *out, char *error,
                          size_t error_size);
} orchion_scheduler_vtable;

/** A job as an executor sees it. Owned by the host, valid for the call. */
typedef struct orchion_exec_job {
  /** sizeof(orchion_exec_job) as the host knows it. */
  uint32_t struct_size;
  /** Bytes between consecutive `env` entries; index with ORCHION_AT. */
  uint32_t env_size;
  /** Job identifier. */
  const char *id;
  /** A shell command line, or NULL when `argv` is given. */
  const char *command;
  /** The program and its arguments (`argc` entries), or NULL when `argc` is 0. */
  const char *const *argv;
  size_t argc;
  /**
   * Extra environment variables, sorted by key: `env_count` entries
   * `env_size` bytes apart. May be NULL when `env_count` is 0.
   */
  const orchion_kv *env;
  size_t env_count;
  /**
   * Working directory. When the job names none, the host passes the fresh
   * per-attempt directory it makes (owned by the job's user, removed when
   * the attempt ends); NULL only when the host makes none.
   */
  const char *cwd;
  /**
   * User to run as, or NULL: then a root agent runs the job as its default
   * job user, any other agent as itself. The host checks whatever user the
   * launch names against the agent's allow-list.
   */
  const char *user;
  /** Wall-clock limit in milliseconds; 0 for none. */
  uint64_t timeout_ms;
  /** What the job was granted. */
  orchion_resources resources;
  /**
   * Device indices (orchion_gpu.index) of the GPUs the job was granted on
   * this node, `gpu_count` entries, for the executor to pin (e.g. by setting
   * CUDA_VISIBLE_DEVICES). NULL when `gpu_count` is 0.
   */
  const uint32_t *gpus;
  size_t gpu_count;
} orchion_exec_job;

/**
 * How to start a job's process. Filled by the executor, owned by it, and
 * valid until the host calls `release` with it.
 */
typedef struct orchion_launch {
  /** sizeof(orchion_launch) as the host knows it; set by the host. */
  uint32_t struct_size;
  uint32_t reserved;
  /** The file to execute (looked up in PATH when it has no slash). Required. */
  const char *file;
  /** argv, NULL-terminated, `argv[0]` included. Required. */
  const char *const *argv;
  /**
   * The full environment as "KEY=value" strings, NULL-terminated. Required.
   * Nothing else is inherited; the host sets ORCHION_JOB_ID, ORCHION_ATTEMPT
   * and the GPU variables, and removes the agent's secrets (ORCHION_JOIN_TOKEN,
   * ORCHION_TOKEN, ...) unless the job's own env sets them.
   */
  const char *const *env;
  /** Working directory, or NULL to inherit the agent's. */
  const char *cwd;
  /**
   * User to run as, or NULL for the job's (`orchion_exec_job.user`), else the
   * agent's default job user. Checked against the agent's allow-list.
   */
  const char *user;
  /** Kill the process group after this many milliseconds; 0 for never. */
  uint64_t timeout_ms;
  /**
   * A memory limit in bytes lower than the job's grant, or 0 for the grant.
   * The agent enforces it with the job's cgroup v2 `memory.max`, set before
   * the process starts (never RLIMIT_AS, which counts address space, not
   * memory, and could only be set after the process had started).
   */
  uint64_t memory_limit_bytes;
  /** For the plugin's own bookkeeping (e.g. what `release` frees); the host never reads it. */
  void *plugin_data;
} orchion_launch;

/** Why the host stopped a job's process, if it did. */
typedef enum orchion_stop {
  /** The host did not stop it: the process ended by itself (or by a signal
   * from outside Orchion, e.g. the OOM killer). */
  ORCHION_STOP_NONE = 0,
  /** The host stopped it because the job was cancelled. */
  ORCHION_STOP_CANCELLED = 1,
  /** The host stopped it for running past its timeout. */
  ORCHION_STOP_TIMED_OUT = 2,
  /** The kernel killed it at the memory limit the host set for it (the
   * job's cgroup `memory.max`). Since 1.0 in value; a plugin that does not
   * know it sees a host stop it cannot name and must treat it as FAILED. */
  ORCHION_STOP_MEMORY_LIMIT = 3
} orchion_stop;

/** How a job's process ended, as the host observed it. Owned by the host. */
typedef struct orchion_exit {
  /** sizeof(orchion_exit) as the host knows it. */
  uint32_t struct_size;
  /** The signal that ended the process, or 0. */
  int32_t signal;
  /** Exit code, when `signal` is 0. */
  int64_t exit_code;
  /**
   * An orchion_stop value: whether the host stopped the process, and why. A
   * process the host stopped was killed on purpose (its SIGTERM or SIGKILL
   * says nothing about the job), so an executor must not classify it as
   * ORCHION_EXIT_RETRYABLE; the host treats RETRYABLE for a cancelled job as
   * FAILED.
   */
  int32_t stopped;
  uint32_t reserved;
} orchion_exit;

/** The verdict of an executor on a finished process. */
typedef enum orchion_exit_class {
  /** The job did what it was asked. */
  ORCHION_EXIT_SUCCEEDED = 0,
  /** The job failed; retrying will not help. */
  ORCHION_EXIT_FAILED = 1,
  /** The job failed in a way worth retrying (per the job's retry policy). */
  ORCHION_EXIT_RETRYABLE = 2
} orchion_exit_class;

/**
 * The functions of an executor plugin. Since 1.0.
 *
 * As for the scheduler vtable, the host checks `struct_size` before it reads
 * any other field. The host gives each executor instance a thread of its
 * own: init, prepare, release, classify and destroy run there, one at a
 * time, never on the I/O loop thread (`orchion plugin check` calls them on
 * its own loop, which serves nothing else).
 */
typedef struct orchion_executor_vtable {
  /** sizeof(orchion_executor_vtable) as the plugin knows it. */
  uint32_t struct_size;
  uint32_t reserved;
  /** Required. */
  orchion_init_fn init;
  /** Required. */
  orchion_destroy_fn destroy;
  /**
   * Describes how to start `job`. Required. `launch` is zeroed except for
   * `struct_size`. On ORCHION_OK the plugin has filled `launch` (leaving
   * struct_size as the host set it) and the host calls `release` once it has
   * copied what it needs. On failure `error` (`error_size` bytes) says why
   * and `release` is not called.
   */
  orchion_status (*prepare)(void *state, const orchion_exec_job *job,
                            orchion_launch *launch, char *error,
                            size_t error_size);
  /** Frees what `prepare` allocated for `launch`. Required. */
  void (*release)(void *state, orchion_launch *launch);
  /**
   * Classifies how a job's process ended and writes a short human reason
   * (NUL-terminated, at most `reason_size` bytes, ORCHION_ERROR_MAX) into
   * `reason`. Required. Returns an orchion_exit_class value; the host treats
   * any other value as ORCHION_EXIT_FAILED. Read `exit->stopped` first: a
   * job the host stopped is never RETRYABLE.
   */
  int32_t (*classify)(void *state, const orchion_exec_job *job,
                      const orchion_exit *exit, char *reason,
                      size_t reason_size);
} orchion_executor_vtable;

/**
 * What `orchion_plugin_entry` returns. Constant, owned by the plugin, valid
 * for as long as the shared object is loaded. The host reads it without
 * calling init (for `orchion plugin list` and `inspect`): first the eight
 * bytes of `struct_size`, `abi_major` and `abi_minor`, whose layout never
 * changes, then — only once `struct_size` is at least the 1.0 size — the rest.
 */
typedef struct orchion_plugin_descriptor {
  /** sizeof(orchion_plugin_descriptor) as the plugin knows it. */
  uint32_t struct_size;
  /** ORCHION_PLUGIN_ABI_MAJOR the plugin was built against. */
  uint16_t abi_major;
  /** ORCHION_PLUGIN_ABI_MINOR the plugin was built against. */
  uint16_t abi_minor;
  /** An orchion_plugin_kind value. */
  int32_t kind;
  uint32_t reserved;
  /** Unique name: 1–63 characters of [a-z0-9-]. */
  const char *name;
  /** The plugin's own version, e.g. "1.2.0". */
  const char *version;
  /** One line for humans, or NULL. */
  const char *description;
  /** Points at the vtable of `kind`. */
  const void *vtable;
} orchion_plugin_descriptor;

/*
 * The ABI 1.0 sizes on LP64 targets (x86_64 and aarch64 Linux). They are the
 * smallest sizes the host accepts, and they never change: a later minor only
 * appends fields, and the new sizes are asserted beside these.
 */
#if defined(__LP64__) || defined(_LP64)
ORCHION_STATIC_ASSERT(sizeof(orchion_host_api) == 40, "orchion_host_api is 40 bytes");
ORCHION_STATIC_ASSERT(sizeof(orchion_kv) == 16, "orchion_kv is 16 bytes");
ORCHION_STATIC_ASSERT(sizeof(orchion_resources) == 24, "orchion_resources is 24 bytes");
ORCHION_STATIC_ASSERT(sizeof(orchion_gpu) == 32, "orchion_gpu is 32 bytes");
ORCHION_STATIC_ASSERT(sizeof(orchion_node) == 112, "orchion_node is 112 bytes");
ORCHION_STATIC_ASSERT(sizeof(orchion_cluster_view) == 24, "orchion_cluster_view is 24 bytes");
ORCHION_STATIC_ASSERT(sizeof(orchion_gpu_request) == 32, "orchion_gpu_request is 32 bytes");
ORCHION_STATIC_ASSERT(sizeof(orchion_job) == 96, "orchion_job is 96 bytes");
ORCHION_STATIC_ASSERT(sizeof(orchion_job_batch) == 24, "orchion_job_batch is 24 bytes");
ORCHION_STATIC_ASSERT(sizeof(orchion_placement) == 184, "orchion_placement is 184 bytes");
ORCHION_STATIC_ASSERT(sizeof(orchion_placement_batch) == 24, "orchion_placement_batch is 24 bytes");
ORCHION_STATIC_ASSERT(sizeof(orchion_scheduler_vtable) == 32, "orchion_scheduler_vtable is 32 bytes");
ORCHION_STATIC_ASSERT(sizeof(orchion_exec_job) == 120, "orchion_exec_job is 120 bytes");
ORCHION_STATIC_ASSERT(sizeof(orchion_launch) == 72, "orchion_launch is 72 bytes");
ORCHION_STATIC_ASSERT(sizeof(orchion_exit) == 24, "orchion_exit is 24 bytes");
ORCHION_STATIC_ASSERT(sizeof(orchion_executor_vtable) == 48, "orchion_executor_vtable is 48 bytes");
ORCHION_STATIC_ASSERT(sizeof(orchion_plugin_descriptor) == 48, "orchion_plugin_descriptor is 48 bytes");
#endif

/** The type of the entry symbol. */
typedef const orchion_plugin_descriptor *(*orchion_plugin_entry_fn)(void);

/*
 * Declares the entry function; define it in exactly one file of a plugin.
 * It runs before init, possibly on a worker thread, and returns the constant
 * descriptor (never NULL). (Hidden from Swift, whose plugins define it with
 * @_cdecl.)
 */
#ifndef __swift__
ORCHION_EXPORT const orchion_plugin_descriptor *orchion_plugin_entry(void);
#endif

#ifdef __cplusplus
}
#endif

#endif /* ORCHION_PLUGIN_H */
