import { useEffect, useMemo, useState } from "react";
import { formatDuration } from "../lib/format";
import { href, useRoute, useStore } from "./hooks";
import { JobDetail } from "./JobDetail";
import { Jobs } from "./Jobs";
import { NodeDetail } from "./NodeDetail";
import { Overview } from "./Overview";
import { Plugins } from "./Plugins";
import { SignIn } from "./SignIn";
import { Store } from "./store";
import { Submit } from "./Submit";

const TOKEN_KEY = "orchion.token";

/** The token lives in session storage only: gone with the tab, never in a URL. */
function storedToken(): string | null {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function App() {
  const [token, setToken] = useState<string | null>(storedToken);
  if (token === null) {
    return (
      <SignIn
        onSignedIn={(value) => {
          window.sessionStorage.setItem(TOKEN_KEY, value);
          setToken(value);
        }}
      />
    );
  }
  return (
    <Dashboard
      key={token}
      token={token}
      onSignOut={() => {
        window.sessionStorage.removeItem(TOKEN_KEY);
        setToken(null);
      }}
    />
  );
}

function Dashboard({ token, onSignOut }: { token: string; onSignOut: () => void }) {
  const store = useMemo(() => new Store(token), [token]);
  useEffect(() => {
    store.start();
    return () => store.stop();
  }, [store]);
  useStore(store);
  const route = useRoute();
  const [section, id] = route;
  const connection = store.connection;
  useEffect(() => {
    if (connection.kind === "unauthorized") onSignOut();
  }, [connection.kind, onSignOut]);
  let page;
  switch (section) {
    case "nodes":
      page = id ? <NodeDetail store={store} id={id} /> : <Overview store={store} />;
      break;
    case "jobs":
      page = id ? <JobDetail store={store} id={id} /> : <Jobs store={store} />;
      break;
    case "submit":
      page = <Submit store={store} />;
      break;
    case "plugins":
      page = <Plugins store={store} />;
      break;
    default:
      page = <Overview store={store} />;
  }
  const current = section ?? "nodes";
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Orchion</span>
        <nav aria-label="Sections">
          {[
            ["nodes", "Overview"],
            ["jobs", "Jobs"],
            ["submit", "Submit"],
            ["plugins", "Plugins"],
          ].map(([name, label]) => (
            <a key={name} href={href(name ?? "")} aria-current={current === name ? "page" : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <ConnectionPill store={store} />
        <button type="button" className="quiet" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </div>
  );
}

function ConnectionPill({ store }: { store: Store }) {
  const connection = store.connection;
  const text =
    connection.kind === "live"
      ? "Live"
      : connection.kind === "syncing"
        ? "Connecting…"
        : connection.kind === "reconnecting"
          ? `Reconnecting${connection.retryInMs !== undefined ? ` in ${formatDuration(connection.retryInMs)}` : "…"}`
          : "Signed out";
  const title = connection.kind === "reconnecting" || connection.kind === "unauthorized" ? connection.detail : text;
  return (
    <span className="connection" role="status" data-testid="connection" data-state={connection.kind} title={title}>
      <span className="dot" aria-hidden="true" />
      {text}
      {connection.kind === "reconnecting" && (
        <button type="button" className="link" onClick={() => store.retryNow()}>
          retry now
        </button>
      )}
    </span>
  );
}
