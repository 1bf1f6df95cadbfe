import { defineConfig } from "vite";

// No React plugin needed: esbuild compiles JSX with React's automatic runtime.
export default defineConfig({
  esbuild: { jsx: "automatic" },
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 4096 },
  logLevel: "warn",
});
