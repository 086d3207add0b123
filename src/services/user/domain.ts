/**
 * Pure user rules: building a user from a request, applying a partial update (and knowing what
 * changed), and answering a validation request. No clock, no ids, no I/O: all passed in.
 */
import type { NotificationPreferences } from "../../contracts/common.js";
import type { CreateUserBody, UpdateUserBody } from "../../contracts/http.js";
import type { UserCreated, UserField, UserUpdated, UserValidated } from "../../contracts/user.js";

export interface User {
  id: string;
  /** Lower-cased: emails are unique case-insensitively. */
  email: string;
  name: string;
  phone?: string;
  preferences: NotificationPreferences;
  createdAt: string;
  updatedAt: string;
}

/** What the store knows about an id: a user, a deleted user, or nothing. */
export type UserStatus = "active" | "deleted" | "missing";

export const DEFAULT_PREFERENCES: NotificationPreferences = { email: true, push: true, sms: false };

export const normalizeEmail = (email: string): string => email.trim().toLowerCase();

export function newUser(body: CreateUserBody, id: string, nowIso: string): User {
  return {
    id,
    email: normalizeEmail(body.email),
    name: body.name,
    ...(body.phone === undefined ? {} : { phone: body.phone }),
    preferences: { ...DEFAULT_PREFERENCES, ...definedOnly(body.preferences ?? {}) },
    createdAt: nowIso,
    updatedAt: nowIso,
  };
}

export interface UpdateOutcome {
  user: User;
  /** Empty when the update changes nothing (then nothing is written or emitted). */
  changed: UserField[];
}

/**
 * Applies the fields present in `body` (`phone: null` removes the phone); unspecified preference
 * channels keep their current value.
 */
export function applyUpdate(current: User, body: UpdateUserBody, nowIso: string): UpdateOutcome {
  const next: User = { ...current, preferences: { ...current.preferences } };
  const changed: UserField[] = [];
  if (body.email !== undefined && normalizeEmail(body.email) !== current.email) {
    next.email = normalizeEmail(body.email);
    changed.push("email");
  }
  if (body.name !== undefined && body.name !== current.name) {
    next.name = body.name;
    changed.push("name");
  }
  if (body.phone === null) {
    // Removed: the record is rewritten without it, and user.updated carries no phone.
    if (current.phone !== undefined) {
      delete next.phone;
      changed.push("phone");
    }
  } else if (body.phone !== undefined && body.phone !== current.phone) {
    next.phone = body.phone;
    changed.push("phone");
  }
  if (body.preferences !== undefined) {
    next.preferences = { ...current.preferences, ...definedOnly(body.preferences) };
    if (!samePreferences(next.preferences, current.preferences)) changed.push("preferences");
  }
  if (changed.length === 0) return { user: current, changed };
  next.updatedAt = nowIso;
  return { user: next, changed };
}

export function decideValidation(orderId: string, userId: string, status: UserStatus): UserValidated {
  if (status === "active") return { orderId, userId, valid: true };
  return { orderId, userId, valid: false, reason: status === "deleted" ? "deleted" : "not_found" };
}

/**
 * Seals a contact field of a user for the events (src/lib/security/user-data.ts): the events carry
 * `enc1.…` text, never the email or phone in clear.
 */
export type SealContact = (userId: string, field: "email" | "phone", value: string) => string;

/**
 * A user record's version when created; every write adds one (the store's optimistic version,
 * checked by each update). The events carry it: consumers order a user's changes by it (break35 F7).
 */
export const FIRST_VERSION = 1;

export function createdPayload(user: User, seal: SealContact): UserCreated {
  return { ...profile(user, seal), version: FIRST_VERSION };
}

/**
 * @param version the record's version this update writes: the version it was read at plus one
 *   (the store refuses the write, CONFLICT, when the record moved on meanwhile).
 */
export function updatedPayload(
  user: User,
  changed: readonly UserField[],
  seal: SealContact,
  version: number,
): UserUpdated {
  return { ...profile(user, seal), changed: [...changed], version };
}

function profile(user: User, seal: SealContact): Omit<UserCreated, "version"> {
  return {
    userId: user.id,
    email: seal(user.id, "email", user.email),
    name: user.name,
    ...(user.phone === undefined ? {} : { phone: seal(user.id, "phone", user.phone) }),
    preferences: { ...user.preferences },
  };
}

const samePreferences = (a: NotificationPreferences, b: NotificationPreferences): boolean =>
  a.email === b.email && a.push === b.push && a.sms === b.sms;

function definedOnly(input: Partial<Record<keyof NotificationPreferences, boolean | undefined>>) {
  const out: Partial<NotificationPreferences> = {};
  for (const key of ["email", "push", "sms"] as const) {
    const value = input[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
