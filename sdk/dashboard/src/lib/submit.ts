// The submit form's rules: what the server checks (JobSpec.validate and
// the submit handler), applied before sending, with the same wording.

import type { JobSpec, SubmitJobRequest } from "../../../ts/orchion";

export interface SubmitForm {
  name: string;
  command: string;
  /** Cores: "2", "0.5", "500m"; empty for none. */
  cpu: string;
  /** Bytes with an optional unit: "512Mi", "2G", "1048576"; empty for none. */
  memory: string;
  gpus: string;
  gpuVendor: string;
  gpuModel: string;
  arch: string;
  /** Node label constraints, "key=value" separated by commas or lines. */
  labels: string;
  /** Empty for the default strategy. */
  strategy: string;
  maxAttempts: string;
  /** "30s", "5m", "1h30m"; empty for none. */
  timeout: string;
  priority: string;
}

export const EMPTY_FORM: SubmitForm = {
  name: "",
  command: "",
  cpu: "",
  memory: "",
  gpus: "",
  gpuVendor: "",
  gpuModel: "",
  arch: "",
  labels: "",
  strategy: "",
  maxAttempts: "",
  timeout: "",
  priority: "",
};

export type FormErrors = Partial<Record<keyof SubmitForm, string>>;

export type Checked = { request: SubmitJobRequest; errors?: undefined } | { request?: undefined; errors: FormErrors };

const NAME_LIMIT = 253;
const ATTEMPT_LIMIT = 1000;
const DURATION_LIMIT_SECONDS = 315_576_000_000;
const UINT32_MAX = 4_294_967_295;
const UINT64_MAX = 18_446_744_073_709_551_615n;

/** Checks the form; the request to send, or every problem found by field. */
export function checkSubmitForm(form: SubmitForm, requestId: string): Checked {
  const errors: FormErrors = {};
  const spec: JobSpec = {};
  const name = form.name.trim();
  if (new TextEncoder().encode(name).length > NAME_LIMIT) errors.name = `expected at most ${NAME_LIMIT} bytes`;
  else if (name) spec.name = name;
  const command = form.command.trim();
  if (!command) errors.command = "expected a command";
  else spec.command = command;
  const resources: NonNullable<JobSpec["resources"]> = {};
  if (form.cpu.trim()) {
    const millis = parseCPU(form.cpu);
    if (millis === undefined) errors.cpu = `expected cores such as 2, 0.5 or 500m, found ${quoted(form.cpu)}`;
    else resources.cpuMillis = millis;
  }
  if (form.memory.trim()) {
    const bytes = parseBytes(form.memory);
    if (bytes === undefined) errors.memory = `expected a size such as 512Mi, 2Gi or 1G, found ${quoted(form.memory)}`;
    else resources.memoryBytes = bytes;
  }
  if (Object.keys(resources).length > 0) spec.resources = resources;
  const gpu: NonNullable<JobSpec["gpu"]> = {};
  if (form.gpus.trim()) {
    const count = parseWhole(form.gpus, UINT32_MAX);
    if (count === undefined) errors.gpus = `expected a whole number of GPUs, found ${quoted(form.gpus)}`;
    else if (count > 0) gpu.count = count;
  }
  if (form.gpuVendor.trim()) gpu.vendor = form.gpuVendor.trim().toLowerCase();
  if (form.gpuModel.trim()) gpu.model = form.gpuModel.trim();
  if ((gpu.vendor || gpu.model) && !gpu.count && !errors.gpus) {
    errors.gpus = "expected at least 1 GPU when a GPU vendor or model is given";
  }
  if (Object.keys(gpu).length > 0) spec.gpu = gpu;
  if (form.arch.trim()) spec.arch = form.arch.trim();
  const labels = parseLabels(form.labels);
  if (typeof labels === "string") errors.labels = labels;
  else if (Object.keys(labels).length > 0) spec.constraints = labels;
  if (form.strategy.trim()) spec.strategy = form.strategy.trim();
  if (form.maxAttempts.trim()) {
    const attempts = parseWhole(form.maxAttempts, UINT32_MAX);
    if (attempts === undefined || attempts > ATTEMPT_LIMIT) {
      errors.maxAttempts = `expected at most ${ATTEMPT_LIMIT}, found ${quoted(form.maxAttempts)}`;
    } else if (attempts > 0) spec.retry = { maxAttempts: attempts };
  }
  if (form.timeout.trim()) {
    const seconds = parseDuration(form.timeout);
    if (seconds === undefined || seconds > DURATION_LIMIT_SECONDS) {
      errors.timeout = `expected a duration such as 30s, 5m or 1h30m, found ${quoted(form.timeout)}`;
    } else spec.timeout = `${seconds}s`;
  }
  if (form.priority.trim()) {
    const text = form.priority.trim();
    const priority = /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(priority) || priority < -2_147_483_648 || priority > 2_147_483_647) {
      errors.priority = `expected a whole number, found ${quoted(form.priority)}`;
    } else if (priority !== 0) spec.priority = priority;
  }
  const all = [name, command, form.arch, form.gpuModel, form.gpuVendor, form.strategy, form.labels];
  if (all.some((text) => text.includes("\0"))) errors.command = "expected strings without NUL bytes";
  if (Object.keys(errors).length > 0) return { errors };
  return { request: { spec, requestId } };
}

/** Thousandths of a core, as the JSON mapping writes uint64. */
export function parseCPU(text: string): string | undefined {
  const value = text.trim();
  const milli = /^(\d+)m$/.exec(value);
  if (milli) return checkedUInt64(BigInt(milli[1] ?? "0"));
  const cores = /^(\d+)(?:\.(\d{1,3}))?$/.exec(value);
  if (cores === null) return undefined;
  const fraction = (cores[2] ?? "").padEnd(3, "0");
  return checkedUInt64(BigInt(cores[1] ?? "0") * 1000n + BigInt(fraction || "0"));
}

const BYTE_SUFFIXES: Record<string, bigint> = {
  "": 1n,
  B: 1n,
  K: 1000n,
  KB: 1000n,
  M: 1000n ** 2n,
  MB: 1000n ** 2n,
  G: 1000n ** 3n,
  GB: 1000n ** 3n,
  T: 1000n ** 4n,
  TB: 1000n ** 4n,
  Ki: 1024n,
  KiB: 1024n,
  Mi: 1024n ** 2n,
  MiB: 1024n ** 2n,
  Gi: 1024n ** 3n,
  GiB: 1024n ** 3n,
  Ti: 1024n ** 4n,
  TiB: 1024n ** 4n,
};

/** Bytes ("512Mi", "2G", "1.5Gi", "1048576"), as the JSON mapping writes uint64. */
export function parseBytes(text: string): string | undefined {
  const match = /^(\d+)(?:\.(\d{1,6}))?\s*([A-Za-z]*)$/.exec(text.trim());
  if (match === null) return undefined;
  const unit = BYTE_SUFFIXES[match[3] ?? ""];
  if (unit === undefined) return undefined;
  const fraction = match[2] ?? "";
  const scale = 10n ** BigInt(fraction.length);
  const scaled = BigInt(match[1] ?? "0") * scale + BigInt(fraction || "0");
  const bytes = (scaled * unit) / scale;
  if (fraction && (scaled * unit) % scale !== 0n) return undefined;
  return checkedUInt64(bytes);
}

/** Seconds from "90", "30s", "5m", "1h30m", "2d". */
export function parseDuration(text: string): number | undefined {
  const value = text.trim();
  if (/^\d+$/.test(value)) return Number(value);
  const parts = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(value);
  if (parts === null || value === "") return undefined;
  const [days, hours, minutes, seconds] = [parts[1], parts[2], parts[3], parts[4]].map((part) => Number(part ?? 0));
  const total = (days ?? 0) * 86_400 + (hours ?? 0) * 3_600 + (minutes ?? 0) * 60 + (seconds ?? 0);
  return Number.isSafeInteger(total) ? total : undefined;
}

/** "k=v" pairs separated by commas or line breaks; an error text when malformed. */
export function parseLabels(text: string): Record<string, string> | string {
  const labels: Record<string, string> = {};
  for (const raw of text.split(/[,\n]/)) {
    const pair = raw.trim();
    if (!pair) continue;
    const equals = pair.indexOf("=");
    if (equals <= 0) return `expected key=value with a non-empty key, found ${quoted(pair)}`;
    labels[pair.slice(0, equals).trim()] = pair.slice(equals + 1).trim();
  }
  return labels;
}

function parseWhole(text: string, max: number): number | undefined {
  const value = text.trim();
  if (!/^\d+$/.test(value)) return undefined;
  const number = Number(value);
  return number <= max ? number : undefined;
}

function checkedUInt64(value: bigint): string | undefined {
  return value <= UINT64_MAX ? value.toString() : undefined;
}

function quoted(text: string): string {
  return JSON.stringify(text);
}
