import { useState, type FormEvent } from "react";
import { API } from "../lib/api";

/** Asks for an API token and checks it with one call before keeping it. */
export function SignIn({ onSignedIn }: { onSignedIn: (token: string) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(event: FormEvent) {
    event.preventDefault();
    const value = token.trim();
    if (!value) {
      setError("Enter an API token.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await new API(value).nodes();
      onSignedIn(value);
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
      setBusy(false);
    }
  }
  return (
    <main className="signin" id="main">
      <form onSubmit={(event) => void submit(event)} aria-describedby="signin-help">
        <h1>Orchion</h1>
        <p id="signin-help">
          Sign in with a client token: one made by <code>orchion token create NAME</code> (a <code>read</code> token is
          enough to look; submitting and cancelling need <code>submit</code>, switching the strategy <code>admin</code>),
          or this machine's own in <code>client.credential</code>. It is kept for this tab only.
        </p>
        <label htmlFor="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="current-password"
          value={token}
          onChange={(event) => setToken(event.target.value)}
          autoFocus
        />
        {error !== null && (
          <p className="error" role="alert" data-testid="signin-error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
