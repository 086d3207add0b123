/**
 * Prints a fresh set of keys in the environment format (docs/security.md): one signing key per
 * service and the gateway, a payment token key pair, and the users' contact data keys. Give each
 * process only what it needs: `PAYMENT_TOKEN_KEYS` to payment, `PAYMENT_TOKEN_PUBLIC_KEY` to order,
 * `USER_DATA_KEYS` to user and notification, `USER_EMAIL_INDEX_KEY` to user. Never commit the output.
 *
 *   npx tsx scripts/generate-keys.ts > .env.keys
 */
import { Keyring } from "../src/lib/security/keyring.js";
import { generateTokenKeys } from "../src/lib/security/payment-token.js";
import { generateUserDataKeys } from "../src/lib/security/user-data.js";
import { SERVICES } from "../src/system/catalog.js";

const signing = Keyring.generate([...SERVICES.map((s) => s.name), "gateway"]);
const tokens = generateTokenKeys();
console.log(`BUS_SIGNING_KEYS=${signing.serialize()}`);
for (const [name, value] of Object.entries({ ...tokens, ...generateUserDataKeys() }))
  console.log(`${name}=${value}`);
