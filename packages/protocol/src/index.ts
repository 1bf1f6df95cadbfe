export * from "./payload.ts";
export * from "./content.ts";
export * from "./frames.ts";
export * from "./message-types.ts";
export * from "./room-name.ts";
export * from "./studio-api.ts";
