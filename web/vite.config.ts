import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// The control plane serves the built SPA at / (web.go) and answers /graphql
// and /auth/ itself; in `npm run dev` those go to a local control plane.
const controlPlane = process.env.OAIS_CONTROLPLANE_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  plugins: [react()],
  server: {
    proxy: {
      '/graphql': controlPlane,
      '/auth/oidc': controlPlane,
      '/.well-known': controlPlane,
    },
  },
  build: {
    outDir: 'dist',
    // dist/.keep is committed so `go build` works before the first npm build.
    emptyOutDir: false,
    assetsDir: 'assets',
    chunkSizeWarningLimit: 1500,
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    // CI shares two cores with the Go suite: give slow jsdom renders room.
    // These are limits against hangs, not timing assertions.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
