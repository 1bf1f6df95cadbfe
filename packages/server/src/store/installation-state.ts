import type { Store } from "./db.ts";

/**
 * Small JSON documents an installation keeps exactly once, in the control-plane store
 * (`installation_state`, migration 6) — so every node of a cluster sees the same one. The
 * demo room's marker is one (demo/demo-project.ts).
 */
export class InstallationState {
  private readonly store: Store;

  constructor(store: Store) {
    this.store = store;
  }

  /** The document stored under `name` as text, or undefined. */
  async get(name: string): Promise<string | undefined> {
    const row = await this.store.db.selectFrom("installation_state").select("value").where("name", "=", name).executeTakeFirst();
    return row?.value;
  }

  /** Stores (or replaces) the document under `name`; `now` in ms. */
  async put(name: string, value: string, now: number): Promise<void> {
    await this.store.db.insertInto("installation_state").values({ name, value, updated_at: now })
      .onConflict((oc) => oc.column("name").doUpdateSet({ value, updated_at: now }))
      .execute();
  }
}
