/**
 * Bodies the gateway accepts, built from the same blocks as the events, so anything the gateway
 * lets through is also a valid event payload. Each name is both the schema and its parsed type.
 */
import { z } from "zod";
import {
  AmountSchema,
  EmailSchema,
  OrderLinesSchema,
  PaymentTokenSchema,
  PersonNameSchema,
  PhoneSchema,
  ProductIdSchema,
  QuantitySchema,
  StockLevelSchema,
  UserIdSchema,
} from "./common.js";
import { ProductNameSchema } from "./inventory.js";

/** Preferences as a client sends them: unspecified channels keep their default or current value. */
export const PreferencesInputSchema = z.strictObject({
  email: z.boolean().optional(),
  push: z.boolean().optional(),
  sms: z.boolean().optional(),
});

export const CreateUserBody = z.strictObject({
  email: EmailSchema,
  name: PersonNameSchema,
  phone: PhoneSchema.optional(),
  preferences: PreferencesInputSchema.optional(),
});
export type CreateUserBody = z.infer<typeof CreateUserBody>;

export const UpdateUserBody = CreateUserBody.partial().refine(
  (body) => Object.values(body).some((value) => value !== undefined),
  "at least one field is required",
);
export type UpdateUserBody = z.infer<typeof UpdateUserBody>;

export const PlaceOrderBody = z.strictObject({
  userId: UserIdSchema,
  items: OrderLinesSchema,
  payment: z.strictObject({ token: PaymentTokenSchema }),
});
export type PlaceOrderBody = z.infer<typeof PlaceOrderBody>;

export const AddProductBody = z.strictObject({
  productId: ProductIdSchema,
  name: ProductNameSchema,
  price: AmountSchema,
  quantity: StockLevelSchema,
  lowStockThreshold: StockLevelSchema.optional(),
});
export type AddProductBody = z.infer<typeof AddProductBody>;

export const RestockBody = z.strictObject({ quantity: QuantitySchema });
export type RestockBody = z.infer<typeof RestockBody>;
