/**
 * Prints a fresh set of keys in the environment format (docs/security.md): one signing key per
 * service and the gateway, each in its own variable `BUS_SIGNING_KEY_<NAME>` (docker-compose.yml
 * hands each process its own and its producers' only, src/system/signing-key-needs.ts), a
 * payment token key pair, the users' contact data keys, and the gateway's master secret with each
 * service's credential secret derived from it (`GATEWAY_SECRET_<NAME>`). Give each process only
 * what it needs: `PAYMENT_TOKEN_KEYS` to payment, `PAYMENT_TOKEN_PUBLIC_KEY` to order,
 * `USER_DATA_KEYS` to user and notification, `USER_EMAIL_INDEX_KEY` to user. Never commit the output.
 *
 *   npx tsx scripts/generate-keys.ts > .env.keys
 */
import { randomBytes } from "node:crypto";
import { serviceCredentialSecret } from "../src/lib/http/gateway-credential.js";
import { Keyring } from "../src/lib/security/keyring.js";
import { generateTokenKeys } from "../src/lib/security/payment-token.js";
import { generateUserDataKeys } from "../src/lib/security/user-data.js";
import { SERVICES } from "../src/system/catalog.js";
import { SIGNING_KEY_OWNERS } from "../src/system/signing-key-distribution.js";

// The one list of signing-key owners (every service and the gateway), as the launcher and dev-secrets use.
const signing = Keyring.generate(SIGNING_KEY_OWNERS);
for (const name of SIGNING_KEY_OWNERS)
  console.log(`BUS_SIGNING_KEY_${name.toUpperCase()}=${signing.subset([name]).serialize()}`);
// The gateway's master secret and each service's credential secret derived from it.
const master = randomBytes(32).toString("hex");
console.log(`GATEWAY_SHARED_SECRET=${master}`);
for (const { name } of SERVICES)
  console.log(`GATEWAY_SECRET_${name.toUpperCase()}=${serviceCredentialSecret(master, name)}`);
const tokens = generateTokenKeys();
for (const [name, value] of Object.entries({ ...tokens, ...generateUserDataKeys() }))
  console.log(`${name}=${value}`);
