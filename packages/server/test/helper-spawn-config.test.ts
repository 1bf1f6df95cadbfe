/**
 * `serve`'s bounds on namespace-helper start-ups from the environment (HelperSpawnLimit):
 * unset keeps the runtime's defaults, values are checked with a message naming the variable.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { helperSpawnConfigFromEnv, HELPER_SPAWN_ENV } from "../src/index.ts";

test("ROOMSERVICE_HELPER_STARTS / _QUEUE / _QUEUE_TIMEOUT become the runtime's helper start-up bounds", () => {
  assert.deepEqual(HELPER_SPAWN_ENV, { maxConcurrent: "ROOMSERVICE_HELPER_STARTS", maxWaiters: "ROOMSERVICE_HELPER_QUEUE", queueTimeoutMs: "ROOMSERVICE_HELPER_QUEUE_TIMEOUT" });
  assert.deepEqual(helperSpawnConfigFromEnv({}), {});
  assert.deepEqual(helperSpawnConfigFromEnv({ ROOMSERVICE_HELPER_STARTS: "8", ROOMSERVICE_HELPER_QUEUE: "0", ROOMSERVICE_HELPER_QUEUE_TIMEOUT: "300" }), { maxConcurrent: 8, maxWaiters: 0, queueTimeoutMs: 300_000 });
  assert.deepEqual(helperSpawnConfigFromEnv({ ROOMSERVICE_HELPER_STARTS: " " }), {}, "blank is unset");
});

test("bad values are refused with the variable, the range and the value given", () => {
  assert.throws(() => helperSpawnConfigFromEnv({ ROOMSERVICE_HELPER_STARTS: "0" }), { message: 'ROOMSERVICE_HELPER_STARTS: expected an integer from 1 to 1024, got "0"' });
  assert.throws(() => helperSpawnConfigFromEnv({ ROOMSERVICE_HELPER_STARTS: "four" }), /ROOMSERVICE_HELPER_STARTS: expected an integer from 1 to 1024, got "four"/);
  assert.throws(() => helperSpawnConfigFromEnv({ ROOMSERVICE_HELPER_QUEUE: "-1" }), /ROOMSERVICE_HELPER_QUEUE: expected an integer from 0 to 1000000, got "-1"/);
  assert.throws(() => helperSpawnConfigFromEnv({ ROOMSERVICE_HELPER_QUEUE_TIMEOUT: "0.5" }), { message: 'ROOMSERVICE_HELPER_QUEUE_TIMEOUT: expected an integer from 1 to 3600 (seconds), got "0.5"' });
  assert.throws(() => helperSpawnConfigFromEnv({ ROOMSERVICE_HELPER_QUEUE_TIMEOUT: "7200" }), /from 1 to 3600 \(seconds\), got "7200"/);
});
