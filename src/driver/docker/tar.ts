/**
 * A minimal ustar writer, for handing a tiny root filesystem to `docker import` without
 * a tar package: regular files only, names up to 100 bytes (no prefix field, no pax
 * headers), sizes below 8 GiB. Anything else is refused rather than written wrongly.
 */

export interface TarFile {
  /** Path inside the archive, relative (`pause`, `etc/hosts`). */
  name: string;
  data: Buffer;
  /** Permission bits. Default 0o644. */
  mode?: number;
  /** Seconds since the epoch. Default 0, so the archive is byte-for-byte reproducible. */
  mtime?: number;
}

const BLOCK = 512;

/** `value` as `width - 1` octal digits and a NUL, as ustar's numeric fields are. */
function octal(value: number, width: number): string {
  const digits = value.toString(8);
  if (digits.length > width - 1) throw new Error(`tar: ${value} does not fit in a ${width}-byte field`);
  return `${digits.padStart(width - 1, '0')}\0`;
}

function header(file: TarFile): Buffer {
  const name = Buffer.from(file.name, 'utf8');
  if (name.length === 0 || name.length > 100) throw new Error(`tar: name must be 1–100 bytes: ${JSON.stringify(file.name)}`);
  if (file.name.startsWith('/') || file.name.split('/').includes('..')) throw new Error(`tar: name must be relative: ${file.name}`);
  const h = Buffer.alloc(BLOCK);
  name.copy(h, 0);
  h.write(octal(file.mode ?? 0o644, 8), 100, 'latin1');
  h.write(octal(0, 8), 108, 'latin1'); // uid root
  h.write(octal(0, 8), 116, 'latin1'); // gid root
  h.write(octal(file.data.length, 12), 124, 'latin1');
  h.write(octal(file.mtime ?? 0, 12), 136, 'latin1');
  h.write('        ', 148, 'latin1'); // checksum counts itself as spaces
  h.write('0', 156, 'latin1'); // regular file
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  h.write('root', 265, 'latin1');
  h.write('root', 297, 'latin1');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

/** A tar archive of `files`, ended by the two zero blocks. */
export function tarArchive(files: readonly TarFile[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(header(f), f.data);
    const pad = (BLOCK - (f.data.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}
