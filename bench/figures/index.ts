/**
 * The figures registry: one file per figure, run in this order. To add one (e.g. the
 * Docker-based items of issue #4 — session start with services, service restart, ...),
 * write `figures/<name>.ts` exporting a `Figure` and list it here; set `requires: "docker"`
 * and the runner skips it (with a note, not a failure) on machines without a Docker daemon.
 */
import type { Figure } from "../lib/types.ts";
import { messaging } from "./messaging.ts";
import { storage } from "./storage.ts";
import { density } from "./density.ts";
import { rooms } from "./rooms.ts";
import { logs } from "./logs.ts";
import { sandbox } from "./sandbox.ts";
import { sync } from "./sync.ts";
import { studio } from "./studio.ts";
import { memory } from "./memory.ts";
import { concurrency } from "./concurrency.ts";
import { cluster } from "./cluster.ts";
import { participants } from "./participants.ts";

export const figures: Figure[] = [
  messaging, // issue #4 item 3
  storage, // issue #4 item 4
  density, // issue #4 item 6
  rooms, // issue #10 figures 1–3 (Docker): cold start, warm restart, session end
  logs, // issue #4 item 5 (Docker)
  sandbox, // issue #4 item 7 (bubblewrap + ip netns, root)
  sync, // issue #8 acceptance 6: Yjs relay vs plain ws
  studio, // issue #7 acceptance 6 (chromium)
  memory, // issue #10 figure 6 (sandbox runtime, root)
  concurrency, // issue #10 figure 7 (Docker)
  cluster, // issue 11 acceptance 5 (PostgreSQL + three nodes; skipped in --quick)
  participants, // perf round 3: participant records on disk vs tmpfs
];
