import { useState, type FormEvent } from "react";
import { describeFailure } from "../lib/api";
import { checkSubmitForm, EMPTY_FORM, type FormErrors, type SubmitForm } from "../lib/submit";
import { href } from "./hooks";
import type { Store } from "./store";

interface FieldProps {
  name: keyof SubmitForm;
  label: string;
  hint?: string;
  form: SubmitForm;
  errors: FormErrors;
  set: (name: keyof SubmitForm, value: string) => void;
  multiline?: boolean;
}

function Field({ name, label, hint, form, errors, set, multiline }: FieldProps) {
  const id = `field-${name}`;
  const error = errors[name];
  const described = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ") || undefined;
  const common = {
    id,
    name,
    value: form[name],
    "aria-invalid": error ? true : undefined,
    "aria-describedby": described,
  };
  return (
    <div className={`field ${multiline ? "full" : ""}`}>
      <label htmlFor={id}>{label}</label>
      {multiline ? (
        <textarea {...common} rows={3} onChange={(event) => set(name, event.target.value)} />
      ) : (
        <input {...common} type="text" autoComplete="off" onChange={(event) => set(name, event.target.value)} />
      )}
      {hint && (
        <small id={`${id}-hint`} className="muted">
          {hint}
        </small>
      )}
      {error && (
        <small id={`${id}-error`} className="error" data-testid={`error-${name}`}>
          {error}
        </small>
      )}
    </div>
  );
}

/** A job from a form, checked as the server checks it before it is sent. */
export function Submit({ store }: { store: Store }) {
  const [form, setForm] = useState<SubmitForm>(EMPTY_FORM);
  const [errors, setErrors] = useState<FormErrors>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (name: keyof SubmitForm, value: string) => setForm((current) => ({ ...current, [name]: value }));
  async function submit(event: FormEvent) {
    event.preventDefault();
    const checked = checkSubmitForm(form, requestId());
    if (checked.errors) {
      setErrors(checked.errors);
      return;
    }
    setErrors({});
    setFailure(null);
    setBusy(true);
    try {
      const job = await store.api.submit(checked.request);
      store.jobs.upsert([job]);
      store.changed();
      window.location.hash = href("jobs", job.id ?? "");
    } catch (error) {
      setFailure(describeFailure(error));
    } finally {
      setBusy(false);
    }
  }
  const props = { form, errors, set };
  return (
    <section className="page" aria-labelledby="submit-title">
      <h1 id="submit-title">Submit a job</h1>
      <form className="submit" onSubmit={(event) => void submit(event)} noValidate data-testid="submit-form">
        <Field name="command" label="Command" hint="Run with /bin/sh -c on the node." multiline {...props} />
        <Field name="name" label="Name" {...props} />
        <Field name="cpu" label="CPU" hint="Cores: 2, 0.5 or 500m" {...props} />
        <Field name="memory" label="Memory" hint="512Mi, 2Gi, 1G" {...props} />
        <Field name="gpus" label="GPUs" {...props} />
        <Field name="gpuModel" label="GPU model" hint="Part of the model name, e.g. A100" {...props} />
        <Field name="gpuVendor" label="GPU vendor" hint="nvidia, amd, intel" {...props} />
        <Field name="arch" label="Architecture" hint="x86_64, aarch64" {...props} />
        <Field name="labels" label="Node labels" hint="key=value, comma separated" {...props} />
        <div className="field">
          <label htmlFor="field-strategy">Strategy</label>
          <select id="field-strategy" value={form.strategy} onChange={(event) => set("strategy", event.target.value)}>
            <option value="">default ({store.scheduler.defaultStrategy ?? "server's"})</option>
            {(store.scheduler.strategies ?? []).map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </div>
        <Field name="maxAttempts" label="Max attempts" {...props} />
        <Field name="timeout" label="Timeout" hint="30s, 5m, 1h30m" {...props} />
        <Field name="priority" label="Priority" hint="Higher runs first" {...props} />
        {failure && (
          <p className="error full" role="alert" data-testid="submit-error">
            {failure}
          </p>
        )}
        <div className="full">
          <button type="submit" disabled={busy}>
            {busy ? "Submitting…" : "Submit"}
          </button>
        </div>
      </form>
    </section>
  );
}

/** A random request id (resubmitting the same one returns the first job); works without a secure context. */
function requestId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `dashboard-${[...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}
