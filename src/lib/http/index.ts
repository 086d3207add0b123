export * from "./error-codes.js";
export * from "./errors.js";
export { createHttpServer, type HttpServerOptions, parseInput, parseQuery } from "./server.js";
export { bodyLimit, pageLimit } from "./query.js";
export { CLIENT_HEADER } from "./headers.js";
