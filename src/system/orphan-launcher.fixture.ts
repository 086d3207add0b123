/**
 * A launcher (src/system/launcher.ts `launch`) of one `orphan-child.fixture.ts` child, for
 * launcher-orphans.test.ts: prints "fixture up: child <pid>" once the child is up (its pid: the
 * launcher has other children, tsx's esbuild), then waits to be killed.
 */
import { launch } from "./launcher.js";

const system = launch([{ label: "orphan", main: "src/system/orphan-child.fixture.ts", env: {} }]);
await system.ready;
process.stdout.write(`fixture up: child ${system.children.get("orphan")?.pid}\n`);
setInterval(() => {}, 60_000);
