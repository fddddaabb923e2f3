# weightmark service image. Not built on the development machines (no Docker engine there): a
# plausible starting point, see docs/configuration.md.
#
#   docker build -t weightmark .
#   docker run -p 8080:8080 -v wm-data:/var/lib/weightmark/data -v wm-keys:/var/lib/weightmark/keys weightmark

# --- build: install dependencies (better-sqlite3 compiles or fetches its binding here) ---
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
# npm ci compiles src/ to dist/ (prepare), so the sources come first; dev dependencies (typescript) are
# pruned after. tfjs-node is optional: its install fetches libtensorflow at build time, and when that
# fails npm skips it and tfjs/wasm is used (nothing is downloaded at run time).
# package.json's allowScripts lists which dependencies may run install scripts (npm 12 blocks the rest):
# better-sqlite3, esbuild and tfjs-node may; onnxruntime-node (GPU download; CPU binaries ship in the
# package), core-js (a banner) and @scarf/scarf (swagger-ui's telemetry) may not.
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/build.mjs
COPY src ./src
RUN npm ci && npm prune --omit=dev && npm cache clean --force
COPY openapi.yaml ./
COPY bin ./bin
# No models/: the service never reads it, and a key.json trained locally there is a secret (.dockerignore too).

# --- runtime: no compilers, non-root ---
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=8080 \
    WEIGHTMARK_DATA_DIR=/var/lib/weightmark/data \
    WEIGHTMARK_KEYS_DIR=/var/lib/weightmark/keys
WORKDIR /app
COPY --from=build --chown=root:root /app /app
RUN mkdir -p /var/lib/weightmark/data /var/lib/weightmark/keys \
 && chown -R node:node /var/lib/weightmark \
 && ln -s /app/bin/weightmark.js /usr/local/bin/weightmark
USER node
VOLUME ["/var/lib/weightmark/data", "/var/lib/weightmark/keys"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# The compiled build (as `npm start`); SIGTERM reaches node for a graceful stop
CMD ["node", "dist/cli/main.js", "serve"]
