/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';

// The API server the dev server proxies to (`npm run dev`); `aion serve` serves the built
// files itself in production.
const api = process.env.AION_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  plugins: [react(), tailwindcss()],
  server: {
    proxy: {
      '/api': { target: api, changeOrigin: false },
      '/hooks': { target: api, changeOrigin: false },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 900,
    rolldownOptions: {
      output: {
        // Heavy parts load on demand: the code view (CodeMirror), the forms (@rjsf + ajv) and
        // the canvas (@xyflow, d3, dagre). React gets its own group with a higher priority, so a
        // lazy group cannot pull it (and with it the lazy group) into the first load.
        codeSplitting: {
          groups: [
            { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler|use-sync-external-store|zustand)[\\/]/, priority: 30 },
            { name: 'codemirror', test: /node_modules[\\/](@codemirror|@uiw|@lezer|crelt|style-mod|w3c-keyname)[\\/]/, priority: 20 },
            { name: 'forms', test: /node_modules[\\/](@rjsf|ajv|ajv-formats|fast-deep-equal|json-schema-traverse|fast-uri|lodash|lodash-es|jsonpointer|markdown-to-jsx|nanoid|react-is|compute-scroll-into-view)[\\/]/, priority: 20 },
            { name: 'canvas', test: /node_modules[\\/](@xyflow|d3-[a-z-]+|@dagrejs|classcat)[\\/]/, priority: 20 },
          ],
        },
      },
    },
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
  },
});
