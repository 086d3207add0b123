export * from "./errors.js";
export { createHttpServer, type HttpServerOptions, parseInput } from "./server.js";
