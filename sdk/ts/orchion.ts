// Generated from sdk/proto/orchion/v1/*.proto by sdk/proto/generate.sh
// (sdk/proto/ts_types.py); do not edit.
//
// The messages as protobuf's canonical JSON mapping writes them (the REST
// API): lowerCamelCase names, every field optional (defaults are left
// out), 64-bit integers and bytes (base64) as strings, enums by name,
// Timestamp and Duration as strings.

// orchion/v1/cluster.proto

/** Health of a node. Only READY nodes take new jobs. */
export type NodeState =
  | "NODE_STATE_UNSPECIFIED"
  | "NODE_STATE_READY" // Heartbeating and accepting jobs.
  | "NODE_STATE_DRAINING" // Finishing its jobs, taking no new ones.
  | "NODE_STATE_SUSPECT" // Missed heartbeats; may come back.
  | "NODE_STATE_DOWN"; // Gone; its jobs are lost and retried per their policy.
/** Every NodeState value, in declaration order. */
export const NodeStateValues: readonly NodeState[] = ["NODE_STATE_UNSPECIFIED", "NODE_STATE_READY", "NODE_STATE_DRAINING", "NODE_STATE_SUSPECT", "NODE_STATE_DOWN"];

/** An amount of compute. */
export interface Resources {
  /** CPU in thousandths of a core (1000 = one core). */
  cpuMillis?: string;
  /** Memory in bytes. */
  memoryBytes?: string;
  /** Whole GPUs. */
  gpus?: number;
}

/** One GPU of a node. */
export interface GPU {
  /** Lower-case vendor: "nvidia", "amd", "intel". */
  vendor?: string;
  /** Model name as the driver reports it, e.g. "NVIDIA H200". */
  model?: string;
  /** Device memory in bytes. */
  memoryBytes?: string;
  /** Device index on its node. */
  index?: number;
  /** Whether a job holds this GPU. */
  allocated?: boolean;
  /** Driver version, when known. */
  driver?: string;
}

/** A non-GPU accelerator: an NPU, a TPU, a Coral edge TPU, ... */
export interface Accelerator {
  /** What it is, lower-case: "npu", "tpu", "edgetpu". */
  kind?: string;
  model?: string;
  count?: number;
}

/** Hardware a node reported when it registered. */
export interface Capabilities {
  /** CPU architecture as `uname -m` names it: "x86_64", "aarch64". */
  arch?: string;
  /** Operating system and kernel, e.g. "Linux 6.1.0". */
  os?: string;
  cpuCores?: number;
  cpuModel?: string;
  memoryBytes?: string;
  gpus?: GPU[];
  accelerators?: Accelerator[];
  /** The agent's version. */
  agentVersion?: string;
  /** Executor plugins the agent can run jobs with. */
  executors?: string[];
}

/** Live usage of one GPU. */
export interface GPUTelemetry {
  index?: number;
  /** 0.0–1.0. */
  utilization?: number;
  memoryUsedBytes?: string;
  temperatureCelsius?: number;
  powerWatts?: number;
}

/** A node's live usage, sent with each heartbeat. */
export interface Telemetry {
  /** 0.0–1.0 over all cores since the previous sample. */
  cpuUtilization?: number;
  memoryUsedBytes?: string;
  loadAverage1m?: number;
  gpus?: GPUTelemetry[];
  sampledAt?: string;
  memoryTotalBytes?: string;
  /** Every kernel thermal zone that gave a temperature. */
  thermalZones?: ThermalZone[];
  /** What each running job uses, by attempt. */
  jobs?: JobUsage[];
}

/** A kernel thermal zone's reading. */
export interface ThermalZone {
  /** The zone's name in the kernel ("thermal_zone0"). */
  zone?: string;
  /** What it measures, as the kernel says ("cpu-thermal", "x86_pkg_temp"). */
  type?: string;
  celsius?: number;
}

/** What one running attempt of a job uses. */
export interface JobUsage {
  jobId?: string;
  attempt?: number;
  /** CPU cores busy on average since the previous sample (1.0 = one core). */
  cpuCores?: number;
  memoryBytes?: string;
  /** CPU time used so far, user and system. */
  cpuMicros?: string;
  /**
   * Where the numbers were read: "cgroup" (the attempt's cgroup v2) or
   * "proc" (its process group's /proc entries).
   */
  source?: string;
}

/** A machine in the cluster. */
export interface Node {
  /** Stable identifier chosen by the agent (defaults to the machine id). */
  id?: string;
  hostname?: string;
  state?: NodeState;
  capabilities?: Capabilities;
  /** What the node offers to jobs in total. */
  capacity?: Resources;
  /** What running jobs hold. */
  allocated?: Resources;
  /** Free-form labels matched by job constraints. */
  labels?: Record<string, string>;
  registeredAt?: string;
  lastHeartbeat?: string;
  /** The latest telemetry sample. */
  telemetry?: Telemetry;
  /** Taking no new jobs by an operator's choice (cordon, or drain). */
  cordoned?: boolean;
  /** Recent telemetry samples, oldest first; filled by GetNode only. */
  history?: Telemetry[];
  /** Jobs assigned to or running on the node. */
  jobs?: number;
}

// orchion/v1/jobs.proto

/** Where a job is in its life. */
export type JobState =
  | "JOB_STATE_UNSPECIFIED"
  | "JOB_STATE_PENDING" // Waiting for a node.
  | "JOB_STATE_SCHEDULED" // Bound to a node, not yet started.
  | "JOB_STATE_RUNNING"
  | "JOB_STATE_SUCCEEDED"
  | "JOB_STATE_FAILED"
  | "JOB_STATE_CANCELLED"
  | "JOB_STATE_LOST"; // Its node went down while it ran; retried per its policy.
/** Every JobState value, in declaration order. */
export const JobStateValues: readonly JobState[] = ["JOB_STATE_UNSPECIFIED", "JOB_STATE_PENDING", "JOB_STATE_SCHEDULED", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_LOST"];

/** Which stream output came from. */
export type LogStream =
  | "LOG_STREAM_UNSPECIFIED"
  | "LOG_STREAM_STDOUT"
  | "LOG_STREAM_STDERR";
/** Every LogStream value, in declaration order. */
export const LogStreamValues: readonly LogStream[] = ["LOG_STREAM_UNSPECIFIED", "LOG_STREAM_STDOUT", "LOG_STREAM_STDERR"];

/** What a job asks of a node's GPUs. */
export interface GPURequest {
  /** Number of GPUs; 0 means none. */
  count?: number;
  /** Required vendor ("nvidia", "amd", "intel"), or empty for any. */
  vendor?: string;
  /** Required substring of the model name, case-insensitive, or empty. */
  model?: string;
  /** Minimum memory of each GPU in bytes. */
  minMemoryBytes?: string;
}

/** How often a failed job is tried again. */
export interface RetryPolicy {
  /** Attempts in total, the first included; 0 means 1. */
  maxAttempts?: number;
  /** Wait between attempts. */
  backoff?: string;
}

/** What a user asks to run. Exactly one of `command` and `argv` is set. */
export interface JobSpec {
  /** A human name; need not be unique. */
  name?: string;
  /** A shell command line, run with /bin/sh -c. */
  command?: string;
  /** A program and its arguments, run directly. */
  argv?: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working directory on the node; empty for the agent's work directory. */
  cwd?: string;
  /** User to run as on the node; empty for the agent's user. */
  user?: string;
  /** CPU and memory needed (`gpus` is taken from `gpu.count`). */
  resources?: Resources;
  gpu?: GPURequest;
  /** Required architecture, or empty for any. */
  arch?: string;
  /** Node labels that must be present with these values. */
  constraints?: Record<string, string>;
  /** Scheduler plugin to place it with; empty for the default. */
  strategy?: string;
  /** Executor plugin to run it with; empty for "exec". */
  executor?: string;
  /** Higher runs first. */
  priority?: number;
  retry?: RetryPolicy;
  /** Wall-clock limit per attempt; unset for none. */
  timeout?: string;
}

/** One try at running a job. */
export interface Attempt {
  /** 1 for the first. */
  number?: number;
  nodeId?: string;
  state?: JobState;
  startedAt?: string;
  finishedAt?: string;
  /** Exit code, when the process exited. */
  exitCode?: string;
  /** Signal that ended the process, or 0. */
  signal?: number;
  /** Why it ended the way it did, in words. */
  reason?: string;
  /** GPU indices it was given on its node. */
  gpuIndices?: number[];
  /** The scheduler plugin that placed it. */
  strategy?: string;
}

/** One reason a pending job fits nowhere, and on how many nodes it holds. */
export interface PendingReason {
  /** E.g. "lack a free GPU with >= 16 GiB", "are draining". */
  reason?: string;
  nodes?: number;
}

/** A job and its history. */
export interface Job {
  id?: string;
  spec?: JobSpec;
  state?: JobState;
  attempts?: Attempt[];
  createdAt?: string;
  updatedAt?: string;
  /**
   * Why it is in its state (e.g. why it is still pending), in words:
   * "3 nodes: 2 lack a free GPU with >= 16 GiB, 1 is draining".
   */
  reason?: string;
  /** Why a pending job fits nowhere, per reason with node counts. */
  pendingReasons?: PendingReason[];
  /**
   * The name of the client token that submitted it; empty for jobs
   * recorded before owners were. A "submit" token may cancel only its own.
   */
  submittedBy?: string;
}

/** A change of a job's state. */
export interface JobEvent {
  jobId?: string;
  state?: JobState;
  attempt?: number;
  nodeId?: string;
  reason?: string;
  at?: string;
  exitCode?: string;
  signal?: number;
  /**
   * Increases with every event the server records (by one, except for a gap
   * where the server crashed); lets a watcher resume with `after`.
   */
  sequence?: string;
  /** FAILED only: the executor judged that another attempt may succeed. */
  retryable?: boolean;
  /** FAILED only: the host stopped the attempt for running past its timeout. */
  timedOut?: boolean;
}

/** A piece of a job's output. */
export interface LogChunk {
  jobId?: string;
  attempt?: number;
  stream?: LogStream;
  /** Byte offset of `data` within this attempt's stream. */
  offset?: string;
  data?: string;
  at?: string;
}

// orchion/v1/agent.proto

/** A job an agent is running when it (re)connects. */
export interface RunningJob {
  jobId?: string;
  attempt?: number;
  pid?: number;
}

/** The first message of every stream. */
export interface Register {
  nodeId?: string;
  hostname?: string;
  capabilities?: Capabilities;
  labels?: Record<string, string>;
  /** What the node offers to jobs (may be less than its hardware). */
  capacity?: Resources;
  /** Jobs still running from before a reconnect; the server adopts or stops them. */
  running?: RunningJob[];
}

export interface Heartbeat {
  /** Increases by one per heartbeat of this stream. */
  sequence?: string;
  telemetry?: Telemetry;
}

/** Agent to server. */
export interface AgentMessage {
  register?: Register;
  heartbeat?: Heartbeat;
  jobEvent?: JobEvent;
  logChunk?: LogChunk;
  leaving?: Leaving;
}

/**
 * The agent is shutting down: the server places nothing more on the node
 * (it shows as DRAINING) until the agent registers again. Sent once per
 * stream, before the agent stops; an assignment that still arrives is
 * answered LOST, which the server retries on another node.
 */
export interface Leaving {
  reason?: string;
}

/** The server's answer to Register. */
export interface Registered {
  nodeId?: string;
  heartbeatInterval?: string;
  /** Running jobs the server does not know and the agent must stop. */
  stopJobIds?: string[];
  /**
   * This node's own credential, issued when the Register came with the join
   * token (empty otherwise). The agent stores it durably before presenting
   * it on its next connection; the server keeps only its SHA-256.
   */
  nodeCredential?: string;
}

/**
 * Run this attempt of a job. The agent acknowledges it with a JobEvent for
 * the attempt: SCHEDULED once accepted (or the state the attempt is in, when
 * it is a redelivery of one it already has); an assignment it cannot run is
 * answered with FAILED and a reason. Until acknowledged, the server sends it
 * again after every reconnect; an agent runs each (job, attempt) once.
 */
export interface Assignment {
  job?: Job;
  attempt?: number;
  /** GPU indices granted on this node. */
  gpuIndices?: number[];
}

/**
 * Stop this attempt of a job.
 * Acknowledged by the attempt's final JobEvent (CANCELLED).
 */
export interface Cancel {
  jobId?: string;
  attempt?: number;
  reason?: string;
  /** Time between SIGTERM and SIGKILL; unset for the agent's default. */
  grace?: string;
}

/** New settings for the agent. */
export interface ConfigUpdate {
  heartbeatInterval?: string;
  values?: Record<string, string>;
}

/** Server to agent. */
export interface ServerMessage {
  registered?: Registered;
  assignment?: Assignment;
  cancel?: Cancel;
  config?: ConfigUpdate;
}

// orchion/v1/plugins.proto

export type PluginKind =
  | "PLUGIN_KIND_UNSPECIFIED"
  | "PLUGIN_KIND_SCHEDULER"
  | "PLUGIN_KIND_EXECUTOR";
/** Every PluginKind value, in declaration order. */
export const PluginKindValues: readonly PluginKind[] = ["PLUGIN_KIND_UNSPECIFIED", "PLUGIN_KIND_SCHEDULER", "PLUGIN_KIND_EXECUTOR"];

export type PluginState =
  | "PLUGIN_STATE_UNSPECIFIED"
  | "PLUGIN_STATE_LOADED"
  | "PLUGIN_STATE_REFUSED" // Refused at load; `reason` says why.
  | "PLUGIN_STATE_QUARANTINED"; // Taken out of service after repeated failures; `reason` says why.
/** Every PluginState value, in declaration order. */
export const PluginStateValues: readonly PluginState[] = ["PLUGIN_STATE_UNSPECIFIED", "PLUGIN_STATE_LOADED", "PLUGIN_STATE_REFUSED", "PLUGIN_STATE_QUARANTINED"];

export interface Plugin {
  name?: string;
  kind?: PluginKind;
  version?: string;
  /** "major.minor" of the plugin ABI it was built against. */
  abi?: string;
  description?: string;
  /** The shared object it came from. */
  file?: string;
  state?: PluginState;
  reason?: string;
  /** The strategy jobs get when they name none. */
  isDefault?: boolean;
}

// orchion/v1/control.proto

export type ListNodesRequest = Record<string, never>;

export interface ListNodesResponse {
  nodes?: Node[];
}

export interface GetNodeRequest {
  id?: string;
}

/** Drain: take no new jobs and let the running ones finish. */
export interface DrainNodeRequest {
  id?: string;
}

/** Cordon: take no new jobs; running ones are untouched. */
export interface CordonNodeRequest {
  id?: string;
}

/** Return a cordoned or draining node to service. */
export interface UncordonNodeRequest {
  id?: string;
}

/** Undrain: take new jobs again after a drain (a cordon stays). */
export interface UndrainNodeRequest {
  id?: string;
}

export interface SubmitJobRequest {
  spec?: JobSpec;
  /** A client-chosen key: resubmitting with the same key returns the first job. */
  requestId?: string;
}

/**
 * Many jobs in one call, accepted together or not at all: every spec is
 * checked before any is accepted, and all are made durable in one commit.
 * At most 10,000 jobs (and the 4 MiB message limit) per call.
 */
export interface SubmitJobsRequest {
  jobs?: SubmitJobRequest[];
}

export interface SubmitJobsResponse {
  /**
   * The ids of the jobs, in request order (an earlier job's id for a
   * request_id already seen).
   */
  jobIds?: string[];
}

export interface ListJobsRequest {
  /** Only jobs in this state; unspecified for all. */
  state?: JobState;
  /** Only jobs whose latest attempt ran on this node. */
  nodeId?: string;
  /** At most this many (server default 100, maximum 1000). */
  pageSize?: number;
  /** From ListJobsResponse.next_page_token. */
  pageToken?: string;
}

export interface ListJobsResponse {
  jobs?: Job[];
  /** Empty on the last page. */
  nextPageToken?: string;
}

export interface GetJobRequest {
  id?: string;
}

export interface CancelJobRequest {
  id?: string;
  reason?: string;
}

export interface FollowLogsRequest {
  jobId?: string;
  /** Keep the stream open for new output until the job ends. */
  follow?: boolean;
  /** Start from this byte offset of the latest attempt. */
  offset?: string;
}

export interface WatchEventsRequest {
  /** Only this job's events; empty for all. */
  jobId?: string;
  /** Resume after this event sequence number. */
  after?: string;
  /** Send the retained events and end, instead of following new ones. */
  replayOnly?: boolean;
}

export type ListPluginsRequest = Record<string, never>;

export interface ListPluginsResponse {
  plugins?: Plugin[];
}

export type GetSchedulerRequest = Record<string, never>;

/** Choose the strategy for jobs that name none. */
export interface SetSchedulerRequest {
  defaultStrategy?: string;
}

export interface SchedulerSettings {
  /** The strategy jobs get when they name none. */
  defaultStrategy?: string;
  /** Strategies jobs may name now (loaded, not quarantined). */
  strategies?: string[];
}

/** A new client API token, named; its secret is answered once. */
export interface CreateTokenRequest {
  /** Letters, digits, '.', '_' and '-'; unique among the client tokens. */
  name?: string;
  /**
   * What the token may do: "read" (list and watch), "submit" (also submit
   * jobs and cancel its own), "admin" (everything), or "join" (enrol new
   * nodes through AgentService, as the join token does; no control method).
   * Empty: "read", the least (a token asks for more on purpose).
   */
  scope?: string;
  /** Seconds until the token is refused ("token expired"); 0: never. */
  ttlSeconds?: string;
}

/** What is known about a client token: never its secret. */
export interface TokenInfo {
  name?: string;
  /**
   * The first characters of the secret, to tell tokens apart (empty when
   * not known).
   */
  prefix?: string;
  /** Unset for a token written by hand without a creation time. */
  createdAt?: string;
  /** "join", "read", "submit" or "admin". */
  scope?: string;
  /** When it stops being accepted; unset: never. */
  expiresAt?: string;
  /** Past `expires_at` now (refused; revoke it to remove it from the list). */
  expired?: boolean;
}

export interface CreatedToken {
  info?: TokenInfo;
  /**
   * The token itself. Shown only in this reply: the server keeps only its
   * SHA-256 in the client tokens file (owner-only).
   */
  secret?: string;
  /**
   * For a "join" token: the command that joins another machine with it
   * (`ORCHION_JOIN_TOKEN=… orchion agent run --server … --ca-hash …`).
   */
  joinCommand?: string;
}

export type ListTokensRequest = Record<string, never>;

export interface ListTokensResponse {
  tokens?: TokenInfo[];
}

/** Removes a client token: the server refuses it from the next call on. */
export interface RevokeTokenRequest {
  name?: string;
}

/**
 * Removes a node from the cluster: its credential is revoked, its stream
 * closed, its running jobs retried elsewhere (as a lost node's, not counted
 * against their retries), and it leaves the node list. The id is remembered:
 * its old credential and a new join with the join token are refused until
 * AdmitNode. Other nodes are untouched.
 */
export interface RemoveNodeRequest {
  id?: string;
}

export interface RemovedNode {
  id?: string;
  /** Whether its agent was connected (its stream is now closed). */
  disconnected?: boolean;
  /** The jobs whose running attempts were given up and go back to the queue. */
  retriedJobIds?: string[];
}

/**
 * Lets a removed node join again (with the join token, which issues it a
 * new credential).
 */
export interface AdmitNodeRequest {
  id?: string;
}

export interface AdmittedNode {
  id?: string;
}
