import { useState } from "react";
import { describeFailure } from "../lib/api";
import { stateName } from "../lib/format";
import type { Store } from "./store";

/** Scheduler and executor plugins with their state; the default strategy switch (needs an admin token). */
export function Plugins({ store }: { store: Store }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const strategies = store.scheduler.strategies ?? [];
  async function choose(name: string) {
    setBusy(true);
    setError(null);
    try {
      store.scheduler = await store.api.setDefaultStrategy(name);
      await store.refreshPlugins();
    } catch (failure) {
      setError(describeFailure(failure));
    } finally {
      setBusy(false);
    }
  }
  return (
    <section className="page" aria-labelledby="plugins-title">
      <h1 id="plugins-title">Plugins</h1>
      <div className="card">
        <label htmlFor="default-strategy">Default strategy</label>{" "}
        <select
          id="default-strategy"
          value={store.scheduler.defaultStrategy ?? ""}
          disabled={busy || strategies.length === 0}
          onChange={(event) => void choose(event.target.value)}
          data-testid="default-strategy"
        >
          {strategies.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
        <p className="muted">Jobs that name no strategy are placed with this one.</p>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
      </div>
      <table className="plain" data-testid="plugin-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Kind</th>
            <th>State</th>
            <th>Version</th>
            <th>ABI</th>
            <th>Description · reason</th>
          </tr>
        </thead>
        <tbody>
          {store.plugins.map((plugin) => (
            <tr key={`${plugin.kind}/${plugin.name}/${plugin.file}`}>
              <td>
                {plugin.name}{" "}
                {plugin.isDefault && plugin.state === "PLUGIN_STATE_LOADED" && <span className="tag">default</span>}
              </td>
              <td>{stateName(plugin.kind)}</td>
              <td>
                <span className={`pill plugin-${stateName(plugin.state)}`}>{stateName(plugin.state)}</span>
              </td>
              <td>{plugin.version}</td>
              <td>{plugin.abi}</td>
              <td>
                {plugin.description}
                {plugin.reason && <div className="error">{plugin.reason}</div>}
                <div className="muted mono small">{plugin.file}</div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
