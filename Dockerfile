# Usage Panda gateway image: `docker build -t usage-panda .`; see docs/deployment.md.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles when no prebuilt binary fits.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
ENV USAGE_PANDA_HOST=0.0.0.0
ENV USAGE_PANDA_PORT=9000
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/data/wordlists ./data/wordlists
RUN mkdir -p /var/lib/usage-panda && chown node:node /var/lib/usage-panda
USER node
EXPOSE 9000
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:9000/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/cli.js", "start", "--data", "/var/lib/usage-panda"]
