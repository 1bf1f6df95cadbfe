import { createContext, lazy, Suspense, useContext, useEffect, useState } from "react";
import { NavLink, Navigate, Route, Routes } from "react-router-dom";
import { Api, currentSession, errorText, signIn, signOut, type AuthSession } from "./api.ts";
import { SignIn } from "./pages/SignIn.tsx";
import { RoomsPage } from "./pages/Rooms.tsx";
import { ServicesPage } from "./pages/Services.tsx";
import { SecretsPage } from "./pages/Secrets.tsx";
import { LogoIcon } from "./components/icons.tsx";

// The heavy pages load on demand: the room page carries the MeshAgent SDK and uPlot, the
// editor CodeMirror; the first paint of the light pages does not wait for them.
const RoomPage = lazy(() => import("./pages/Room.tsx").then((m) => ({ default: m.RoomPage })));
const SessionPage = lazy(() => import("./pages/Session.tsx").then((m) => ({ default: m.SessionPage })));
const ServiceEditPage = lazy(() => import("./pages/ServiceEdit.tsx").then((m) => ({ default: m.ServiceEditPage })));

const ApiContext = createContext<Api | null>(null);

/** The REST client of the signed-in session; only rendered inside the signed-in shell. */
export function useApi(): Api {
  const api = useContext(ApiContext);
  if (api === null) throw new Error("useApi outside the signed-in shell");
  return api;
}

type AuthState =
  | { kind: "checking" }
  | { kind: "signed-out"; error: string | null }
  | { kind: "signed-in"; api: Api };

/**
 * The app: resolves the browser session first (a `?login=` one-time code from `serve`'s
 * printed URL is exchanged and removed from the address bar), then the pages.
 */
export function App() {
  const [auth, setAuth] = useState<AuthState>({ kind: "checking" });

  useEffect(() => {
    let cancelled = false;
    (async () => {
      const url = new URL(window.location.href);
      const login = url.searchParams.get("login");
      let session: AuthSession | null = null;
      let error: string | null = null;
      if (login !== null) {
        // The code works once: take it out of the URL (and history) before anything else.
        url.searchParams.delete("login");
        window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
        try {
          session = await signIn({ login });
        } catch (err) {
          error = `That sign-in link did not work (${errorText(err)}). Sign in with an API key instead.`;
        }
      }
      if (session === null && error === null) {
        try {
          session = await currentSession();
        } catch (err) {
          error = errorText(err);
        }
      }
      if (cancelled) return;
      setAuth(session === null ? { kind: "signed-out", error } : { kind: "signed-in", api: new Api(session) });
    })();
    return () => {
      cancelled = true;
    };
  }, []);

  if (auth.kind === "checking") return <div className="boot" aria-busy="true">Loading Studio…</div>;
  if (auth.kind === "signed-out") {
    return <SignIn initialError={auth.error} onSignedIn={(s) => setAuth({ kind: "signed-in", api: new Api(s) })} />;
  }
  return (
    <ApiContext.Provider value={auth.api}>
      <Shell onSignOut={async () => {
        await signOut(auth.api.session);
        setAuth({ kind: "signed-out", error: null });
      }} />
    </ApiContext.Provider>
  );
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const api = useApi();
  return (
    <div className="shell">
      <a className="skip" href="#main">Skip to content</a>
      <header className="topbar">
        <NavLink to="/rooms" className="brand" aria-label="Roomservice Studio home">
          <LogoIcon /> <span className="brand-text">Studio</span>
        </NavLink>
        <nav aria-label="Main">
          <NavLink to="/rooms">Rooms</NavLink>
          <NavLink to="/services">Services</NavLink>
          <NavLink to="/secrets">Secrets</NavLink>
        </nav>
        <div className="who">
          <span className="muted" title={`${api.session.identity.startsWith("apikey:") ? `signed in with API key ${api.me}` : `signed in as ${api.session.identity}`} · project ${api.session.project_id}`}>{api.me}</span>
          <button type="button" className="ghost" onClick={onSignOut}>Sign out</button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<p className="page muted" aria-busy="true">Loading…</p>}>
        <Routes>
          <Route path="/" element={<Navigate to="/rooms" replace />} />
          <Route path="/rooms" element={<RoomsPage />} />
          <Route path="/rooms/:room" element={<RoomPage />} />
          <Route path="/rooms/:room/sessions/:id" element={<SessionPage />} />
          <Route path="/rooms/:room/services" element={<ServicesPage />} />
          <Route path="/rooms/:room/services/new" element={<ServiceEditPage />} />
          <Route path="/rooms/:room/services/:id" element={<ServiceEditPage />} />
          <Route path="/services" element={<ServicesPage />} />
          <Route path="/services/new" element={<ServiceEditPage />} />
          <Route path="/services/:id" element={<ServiceEditPage />} />
          <Route path="/secrets" element={<SecretsPage />} />
          <Route path="*" element={<NotFound />} />
        </Routes>
        </Suspense>
      </main>
    </div>
  );
}

function NotFound() {
  return (
    <section className="page">
      <h1>Page not found</h1>
      <p>There is nothing at this address. Go to <NavLink to="/rooms">Rooms</NavLink>.</p>
    </section>
  );
}
