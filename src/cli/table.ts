import Table from 'cli-table3';

/** A table for stdout: coloured on a terminal, plain text when piped or logged (no escape codes to grep through). */
export const outputTable = (head: string[]) =>
  new Table({ head, wordWrap: false, ...(process.stdout.isTTY ? {} : { style: { head: [], border: [] } }) });
