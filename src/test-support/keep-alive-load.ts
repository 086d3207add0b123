/**
 * Keep-alive load for the graceful-stop tests: clients that each send one request after another on
 * a shared pool, as a gateway or load balancer does, while the server under test stops.
 */
import type { Dispatcher } from "undici";

export interface KeepAliveLoadOptions {
  clients: number;
  /** One request; its body is read here. */
  send: () => Promise<Dispatcher.ResponseData>;
  /** Checks a drain answer (503) of the stopping server: its body and headers. */
  checkDrain: (text: string, headers: Dispatcher.ResponseData["headers"]) => void;
}

export interface KeepAliveLoad {
  /**
   * What each request got, in order: the status (`"200"`), `"drain"` for the drain 503, or the
   * error's code (`"ECONNRESET"`).
   */
  outcomes: string[];
  /** Says the stop has begun: a client whose request fails from now on ends. */
  stopping(): void;
  /** Every client has ended. */
  ended: Promise<void>;
}

/**
 * Starts the clients. A client ends at the drain 503 (like a load balancer, it then goes elsewhere),
 * or once stopping at a failed request or past 2 000 outcomes (a stop that never drains ends the test
 * by its assertions, not its timeout).
 */
export function keepAliveLoad({ clients, send, checkDrain }: KeepAliveLoadOptions): KeepAliveLoad {
  const outcomes: string[] = [];
  let stopping = false;
  const client = async () => {
    for (;;) {
      try {
        const response = await send();
        const text = await response.body.text();
        if (response.statusCode === 503) {
          checkDrain(text, response.headers);
          outcomes.push("drain");
          return;
        }
        outcomes.push(String(response.statusCode));
      } catch (error) {
        outcomes.push((error as { code?: string }).code ?? String(error));
        if (stopping) return;
      }
      if (stopping && outcomes.length > 2_000) return;
    }
  };
  const running = Array.from({ length: clients }, client);
  return {
    outcomes,
    stopping: () => {
      stopping = true;
    },
    ended: Promise.all(running).then(() => undefined),
  };
}
