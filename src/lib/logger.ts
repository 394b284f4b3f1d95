import { pino, type Logger } from 'pino';

export type { Logger };

/** The process logger. Secrets never reach the log: token and secret fields are redacted. */
export function createLogger(opts: { name: string; level?: string; destination?: NodeJS.WritableStream }): Logger {
  return pino(
    {
      name: opts.name,
      level: opts.level ?? process.env.KARU_LOG_LEVEL ?? 'info',
      redact: { paths: ['*.secret', '*.token', 'secret', 'token', 'headers.authorization'], censor: '[redacted]' },
    },
    (opts.destination ?? process.stderr) as pino.DestinationStream,
  );
}

/** A logger that drops everything, for tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
