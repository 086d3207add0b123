# One image for every service; the command picks which one runs (see docker-compose.yml).
FROM node:20-bookworm-slim AS build
WORKDIR /app
# A C toolchain for the native HMAC (binding.gyp), which `npm ci` builds; the runtime image copies the result.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json binding.gyp ./
COPY native ./native
COPY scripts/build-native.mjs ./scripts/
RUN BUS_NATIVE_HMAC=1 npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# The image ships the native HMAC (copied below): a process that cannot load it refuses to start.
ENV BUS_NATIVE_HMAC=1
COPY package.json package-lock.json ./
# No install scripts here (no compiler in this image): the native HMAC comes built from the build stage.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /app/build/Release/hmac_sha256.node /app/build/Release/hmac_sha256.node.sha256 ./build/Release/
COPY --from=build /app/dist ./dist
USER node
# Overridden per service in docker-compose.yml.
CMD ["node", "dist/gateway/main.js"]
