import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

/**
 * Studio's build. `npm run dev` serves the app with hot reload and proxies the REST API, the
 * SSE streams and the Room API WebSocket to a running server (ROOMSERVICE_URL, default
 * http://127.0.0.1:8080), so the page talks to the same origin as in production.
 */
const target = process.env.ROOMSERVICE_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 2000 },
  server: {
    proxy: {
      "/auth": target,
      "/accounts": target,
      "/healthz": target,
      // Room API sockets and storage downloads; page routes /rooms/... stay with Vite.
      "^/rooms/[^/]+/storage/": target,
      "^/rooms/[^/]+$": {
        target,
        ws: true,
        // Vite asks bypass for upgrades too: those go to the server (the Room API socket);
        // a plain page load of /rooms/x is the SPA.
        bypass: (req) => (req.headers.upgrade?.toLowerCase() === "websocket" ? undefined : "/index.html"),
      },
    },
  },
});
