/**
 * Bodies the gateway accepts, built from the same blocks as the events, so anything the gateway
 * lets through is also a valid event payload. Each name is both the schema and its parsed type.
 */
import { z } from "zod";
import {
  AmountSchema,
  EmailSchema,
  MAX_PRICE_CENTS,
  MAX_STOCK_LEVEL,
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

/**
 * Every field optional; `phone: null` removes the phone (break13 F8: once given it could not be
 * taken back). `email` and `name` are required of every user, so they cannot be null.
 */
export const UpdateUserBody = CreateUserBody.partial()
  .extend({ phone: PhoneSchema.nullable().optional() })
  .refine((body) => Object.values(body).some((value) => value !== undefined), {
    message: "at least one field is required",
    // Only on an otherwise valid body (newuser12 F7: `{"bogus":1}` also got this, for a body
    // that did send a field, just not a known one).
    when: (payload) => payload.issues.length === 0,
  });
export type UpdateUserBody = z.infer<typeof UpdateUserBody>;

/** No line may ask for more than any product can ever hold. */
const OrderLinesInput = OrderLinesSchema.superRefine((lines, ctx) => {
  lines.forEach((line, i) => {
    if (line.quantity > MAX_STOCK_LEVEL) {
      ctx.addIssue({
        code: "custom",
        path: [i, "quantity"],
        message: `must be at most ${MAX_STOCK_LEVEL}`,
      });
    }
  });
});

export const PlaceOrderBody = z.strictObject({
  userId: UserIdSchema,
  items: OrderLinesInput,
  payment: z.strictObject({ token: PaymentTokenSchema }),
});
export type PlaceOrderBody = z.infer<typeof PlaceOrderBody>;

export const AddProductBody = z.strictObject({
  productId: ProductIdSchema,
  name: ProductNameSchema,
  /** Cents, at most `MAX_PRICE_CENTS`. */
  price: AmountSchema.max(MAX_PRICE_CENTS),
  quantity: StockLevelSchema.max(MAX_STOCK_LEVEL),
  lowStockThreshold: StockLevelSchema.max(MAX_STOCK_LEVEL).optional(),
});
export type AddProductBody = z.infer<typeof AddProductBody>;

/** The product's stock after it must also stay within `MAX_STOCK_LEVEL` (400 `VALIDATION_FAILED` naming `quantity`). */
export const RestockBody = z.strictObject({ quantity: QuantitySchema.max(MAX_STOCK_LEVEL) });
export type RestockBody = z.infer<typeof RestockBody>;
