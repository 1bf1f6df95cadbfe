import { useEffect } from "react";
import { SecretList } from "../components/SecretList.tsx";

/**
 * `/secrets`: project secrets by name, then every room's secrets (with their room; a room's
 * are added on its page). Values are write-only (components/SecretList.tsx).
 */
export function SecretsPage() {
  useEffect(() => {
    document.title = "Secrets · Studio";
  }, []);
  return (
    <div className="page">
      <header className="page-head">
        <div>
          <h1>Secrets</h1>
          <p className="muted">Values are write-only: once saved, no page, API response or log shows them. Services reference a secret by name (<code>secret: {"{ id: NAME }"}</code>).</p>
        </div>
      </header>
      <section className="panel" aria-labelledby="project-secrets-h">
        <h2 id="project-secrets-h">Project secrets</h2>
        <p className="muted small">Every room's services can use them.</p>
        <SecretList scope={{ kind: "project" }} />
      </section>
      <section className="panel" aria-labelledby="room-secrets-h">
        <h2 id="room-secrets-h">Room secrets</h2>
        <p className="muted small">Only their room's services can use them, and they shadow a project secret of the same name. Add one on its room's page.</p>
        <SecretList scope={{ kind: "all-rooms" }} />
      </section>
    </div>
  );
}
