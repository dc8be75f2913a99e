// Formatting for people: sizes, CPU, ages, states.

import type { JobState, NodeState } from "../../../ts/orchion";

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** "1.5 GiB"; bytes as the JSON mapping writes uint64 (a string) or a number. */
export function formatBytes(value: string | number | undefined): string {
  let amount = Number(value ?? 0);
  if (!Number.isFinite(amount) || amount < 0) return "—";
  let unit = 0;
  while (amount >= 1024 && unit < BYTE_UNITS.length - 1) {
    amount /= 1024;
    unit++;
  }
  const digits = unit === 0 || amount >= 100 ? 0 : amount >= 10 ? 1 : 2;
  return `${trimZeros(amount.toFixed(digits))} ${BYTE_UNITS[unit]}`;
}

/** "250m", "2", "1.5" cores from thousandths of a core. */
export function formatCPU(millis: string | number | undefined): string {
  const value = Number(millis ?? 0);
  if (!Number.isFinite(value) || value < 0) return "—";
  if (value % 1000 === 0) return `${value / 1000}`;
  if (value < 1000) return `${value}m`;
  return trimZeros((value / 1000).toFixed(3));
}

/** "42%" from 0.0–1.0 (clamped); "—" without a value. */
export function formatPercent(fraction: number | undefined): string {
  if (fraction === undefined || !Number.isFinite(fraction)) return "—";
  return `${Math.round(Math.min(Math.max(fraction, 0), 1) * 100)}%`;
}

/** A duration in ms as "850ms", "12s", "3m 05s", "2h 01m", "3d 4h". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "—";
  const value = Math.max(0, Math.round(ms));
  if (value < 1000) return `${value}ms`;
  const seconds = Math.floor(value / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${pad(seconds % 60)}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ${pad(minutes % 60)}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** How long ago `thenMs` was at `nowMs`, coarse: "now", "4s ago", "3m ago". */
export function formatAge(thenMs: number, nowMs: number): string {
  if (!Number.isFinite(thenMs)) return "never";
  const ms = nowMs - thenMs;
  if (ms < 1000) return "now";
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds}s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ago`;
  return `${Math.floor(hours / 24)}d ago`;
}

/** "running" from "JOB_STATE_RUNNING", "ready" from "NODE_STATE_READY". */
export function stateName(state: JobState | NodeState | string | undefined): string {
  if (state === undefined) return "unknown";
  return state.replace(/^(JOB|NODE|PLUGIN)_STATE_/, "").replace(/^PLUGIN_KIND_/, "").toLowerCase();
}

/** A job's command as one line: the shell command, or argv joined with shell quoting. */
export function commandLine(command: string | undefined, argv: readonly string[] | undefined): string {
  if (command) return command;
  return (argv ?? []).map(shellQuote).join(" ");
}

export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A Duration's JSON ("1.500s") as "1.5s"; "" when unset. */
export function formatProtoDuration(text: string | undefined): string {
  if (text === undefined || !text.endsWith("s")) return "";
  const seconds = Number(text.slice(0, -1));
  if (!Number.isFinite(seconds)) return text;
  return formatDuration(seconds * 1000);
}

function pad(value: number): string {
  return value < 10 ? `0${value}` : `${value}`;
}

function trimZeros(text: string): string {
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}
