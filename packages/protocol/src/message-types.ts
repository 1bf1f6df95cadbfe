/** Message types on the room socket, as the MeshAgent SDK sends and handles them. */
export const MessageType = {
  // server -> client
  response: "__response__",
  roomReady: "room_ready",
  connected: "connected",
  roomStatus: "room.status",
  messagingSend: "messaging.send",
  developerLog: "developer.log",
  fileUpdated: "storage.file.updated",
  fileDeleted: "storage.file.deleted",
  fileMoved: "storage.file.moved",
  toolCallResponseChunk: "room.tool_call_response_chunk",
  /** prefix: `room.tool_call.<toolkit>` asks a hosting participant to run a tool */
  toolCallPrefix: "room.tool_call.",
  // client -> server
  invokeTool: "room.invoke_tool",
  toolCallRequestChunk: "room.tool_call_request_chunk",
  registerToolkit: "room.register_toolkit",
  unregisterToolkit: "room.unregister_toolkit",
  listToolkits: "room.list_toolkits",
  toolCallResponse: "room.tool_call_response",
  setAttributes: "set_attributes",
} as const;
