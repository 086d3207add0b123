/** The notification service: its definition, domain rules, the notifier, providers and stores. */
export {
  addressFor,
  applyContactChange,
  type Contact,
  type ContactChange,
  type ContactRecord,
  dedupeKey,
  type Intent,
  type NotificationRecord,
  type NotificationStatus,
  render,
  TEMPLATES,
  type Template,
} from "./domain.js";
export { registerNotificationHandlers } from "./handlers.js";
export {
  createNotifier,
  type Notifier,
  type NotifierOptions,
  type Prepare,
  UserUnknownError,
} from "./notifier.js";
export {
  type ChannelProvider,
  type ProviderRequest,
  type ProviderResult,
  ProviderUnavailableError,
  type SentMessage,
  SimulatedProviders,
} from "./providers.js";
export { RedisNotificationStore } from "./redis-store.js";
export { NotificationQuerySchema } from "./routes.js";
export {
  createNotificationService,
  type NotificationServiceOptions,
  notificationService,
} from "./service.js";
export { MemoryNotificationStore, type NotificationQuery, type NotificationStore } from "./store.js";
