import { test } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, collectMessages, eventually } from "./helpers.ts";

test("two SDK clients exchange direct and broadcast messages; another room sees none of it", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());

  const alice = await ts.client("room-a", "alice");
  const bob = await ts.client("room-a", "bob");
  const carol = await ts.client("room-b", "carol");
  const aliceBox = collectMessages(alice);
  const bobBox = collectMessages(bob);
  const carolBox = collectMessages(carol);
  alice.messaging.enable();
  bob.messaging.enable();
  carol.messaging.enable();

  // The participant list shows both (each sees the other).
  await eventually(() => alice.messaging.getParticipants().length === 1 && bob.messaging.getParticipants().length === 1, 5000, "participants");
  const bobSeenByAlice = alice.messaging.getParticipantByName("bob");
  assert.ok(bobSeenByAlice, "alice sees bob by name");
  assert.equal(bobSeenByAlice.id, bob.localParticipant.id);
  assert.equal(bob.messaging.getParticipantByName("alice").id, alice.localParticipant.id);
  assert.equal(carol.messaging.getParticipants().length, 0, "room-b sees nobody from room-a");

  // Direct message with an attachment.
  await alice.messaging.sendMessage({ to: bobSeenByAlice, type: "chat", message: { text: "hi bob" }, attachment: new Uint8Array([1, 2, 3]) });
  await eventually(() => bobBox.messages.some((m) => m.type === "chat"), 5000, "direct message");
  const direct = bobBox.messages.find((m) => m.type === "chat");
  assert.deepEqual(direct.message, { text: "hi bob" });
  assert.equal(direct.fromParticipantId, alice.localParticipant.id, "sender identity is the server-assigned participant id");
  assert.deepEqual([...direct.attachment], [1, 2, 3]);

  // Broadcast reaches bob, not the sender, not room-b.
  await alice.messaging.broadcastMessage({ type: "announce", message: { n: 1 } });
  await eventually(() => bobBox.messages.some((m) => m.type === "announce"), 5000, "broadcast");
  await bob.messaging.broadcastMessage({ type: "reply", message: { ok: true } });
  await eventually(() => aliceBox.messages.some((m) => m.type === "reply"), 5000, "broadcast back");
  assert.equal(aliceBox.messages.filter((m) => m.type === "announce").length, 0, "sender does not receive its own broadcast");
  assert.deepEqual(carolBox.messages.filter((m) => !m.type.startsWith("messaging.")), [], "room-b received nothing");

  // Presence: bob leaves, alice's list empties.
  const removed = new Promise((resolve) => alice.messaging.on("participant_removed", resolve));
  bob.dispose();
  await removed;
  assert.equal(alice.messaging.getParticipants().length, 0);
});

test("sending to an unknown participant fails with the SDK's not-found error", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const alice = await ts.client("room-x", "alice");
  alice.messaging.enable();
  await eventually(() => alice.messaging.online, 5000, "online");
  await assert.rejects(
    alice.invoke({ toolkit: "messaging", tool: "send", input: { to_participant_id: "nobody", type: "x", message_json: "{}" } }),
    /the participant was not found/,
  );
});

test("attribute changes reach other participants", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const alice = await ts.client("room-attr", "alice");
  const bob = await ts.client("room-attr", "bob");
  alice.messaging.enable();
  bob.messaging.enable();
  await eventually(() => bob.messaging.getParticipants().length === 1, 5000, "participants");
  alice.localParticipant.setAttribute("status", "busy");
  await eventually(() => bob.messaging.getParticipantByName("alice")?.getAttribute("status") === "busy", 5000, "attribute update");
});
