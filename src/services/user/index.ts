/** The user service: its definition (for the host and the embedded runner), domain rules and stores. */
export { createUserCommands, type UserCommands, type UserCommandsOptions } from "./commands.js";
export {
  applyUpdate,
  DEFAULT_PREFERENCES,
  decideValidation,
  newUser,
  normalizeEmail,
  type UpdateOutcome,
  type User,
  type UserStatus,
} from "./domain.js";
export { registerUserHandlers } from "./handlers.js";
export { RedisUserStore } from "./redis-store.js";
export { createUserService, type UserServiceOptions, userService } from "./service.js";
export {
  MemoryUserStore,
  type StoredUser,
  type UserStore,
  type WriteFailure,
  type WriteResult,
} from "./store.js";
