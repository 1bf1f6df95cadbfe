import { useState, type FormEvent } from "react";
import { errorText, signIn, type AuthSession } from "../api.ts";
import { LogoIcon } from "../components/icons.tsx";

/** Sign-in with an API key (`roomservice apikey create`); the key goes to the server once. */
export function SignIn({ initialError, onSignedIn }: { initialError: string | null; onSignedIn: (s: AuthSession) => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(initialError);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await signIn({ api_key: key.trim() });
      setKey("");
      onSignedIn(s);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="signin" id="main">
      <form className="card signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <div className="brand big"><LogoIcon size={22} /> Roomservice Studio</div>
        <h1 id="signin-title">Sign in</h1>
        <p className="muted">
          Use an API key from <code>roomservice apikey create</code>, or open the sign-in link
          that <code>roomservice serve</code> prints.
        </p>
        <label htmlFor="api-key">API key</label>
        <input id="api-key" type="password" autoComplete="off" spellCheck={false} value={key}
          onChange={(e) => setKey(e.target.value)} required autoFocus />
        {error !== null && <p role="alert" className="error">{error}</p>}
        <button type="submit" className="primary" disabled={busy || key.trim() === ""}>Sign in</button>
      </form>
    </main>
  );
}
