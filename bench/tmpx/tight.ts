import { cryptoMicros } from "../bus-security.js";
console.log("sign+verify", cryptoMicros(100_000, false));
console.log("all", cryptoMicros());
