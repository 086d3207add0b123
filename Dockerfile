# One image for every service; the command picks which one runs (see docker-compose.yml).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
USER node
# Overridden per service in docker-compose.yml.
CMD ["node", "--import", "tsx", "src/gateway/main.ts"]
