import { empty, json, type Content } from "@roomservice/protocol";
import type { ServiceLauncher } from "../services/launcher.ts";
import { LaunchError } from "../services/launch-spec.ts";
import { jsonInput, stringField, ToolError, type BuiltinToolkit, type ToolContext } from "./types.ts";

/** The `services` toolkit: list (specs + runtime state) and restart (apply edits now). */
export function servicesToolkit(launcher: ServiceLauncher): BuiltinToolkit {
  return {
    name: "services",
    title: "Services",
    description: "The room's services: configuration and runtime state",
    grant: "services",
    tools: {
      list: {
        kind: "unary",
        grant: { surface: "services", flag: "list" },
        async run(ctx: ToolContext): Promise<Content> {
          return json(await launcher.list(ctx.room.name));
        },
      },
      // Restarting a room's agents changes the room, not just looks at it: it needs the
      // SDK's AdminGrant (`admin.config`), which default user and agent tokens do not carry.
      restart: {
        kind: "unary",
        grant: { surface: "admin", flag: "config" },
        async run(ctx: ToolContext, input: Content): Promise<Content> {
          const id = stringField(jsonInput(input, "services.restart"), "service_id", "services.restart");
          try {
            await launcher.restart(ctx.room.name, id);
          } catch (err) {
            if (err instanceof LaunchError) throw new ToolError(err.message, 400);
            throw err;
          }
          return empty();
        },
      },
    },
  };
}
