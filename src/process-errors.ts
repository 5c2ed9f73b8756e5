import { isBackendDown } from './backend-errors.js';
import type { Logger } from './logger.js';

/**
 * What the process does with an error nobody caught. Logged at error level, through the logger's redaction.
 * - A rejected promise nobody awaited: logged, and the process goes on (its work failed; nothing else did).
 * - A thrown error that escaped to the event loop: the process exits 1 (a supervisor restarts it), since code
 *   was cut off half-way and its state cannot be trusted. Everything acknowledged is durable in the log, so
 *   nothing is lost; what was in flight is settled by the reconciler. The one exception is a backend's
 *   connection error (a database restart, a terminated connection): an outage must never end the process, and
 *   such an error leaves nothing half-done in memory (the client it came from is discarded).
 */
export function installProcessErrorPolicy(logger: Logger, exit: (code: number) => void = (code) => process.exit(code)): () => void {
  const onRejection = (reason: unknown) => {
    logger.error('unhandled promise rejection; going on', { error: reason });
  };
  const onException = (err: unknown) => {
    if (isBackendDown(err)) {
      logger.error('uncaught backend connection error; going on', { error: err });
      return;
    }
    logger.error('uncaught exception; exiting', { error: err });
    exit(1);
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}
