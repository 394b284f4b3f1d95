/**
 * The pause program: a pod's network-namespace holder that does nothing but wait, as a
 * static Linux ELF executable generated here (no compiler, no registry on user machines).
 *
 * What it does, as PID 1 of its container:
 *   rt_sigaction(SIGTERM, &act, NULL, 8); rt_sigaction(SIGINT, &act, NULL, 8)
 *   for (;;) pause()                     // ppoll(NULL, 0, NULL, NULL, 0) on arm64: no pause there
 *   handler: exit_group(0)
 * The handler is needed: the kernel drops signals to a namespace's PID 1 that has none, so
 * without it every `docker stop` would wait out its grace period and SIGKILL. It never
 * returns, so the restorer (mandatory with SA_RESTORER on x86-64) only has to be present.
 *
 * The machine code was assembled with llvm-mc (`-triple=x86_64` / `-triple=aarch64`); the
 * one PC-relative reference to `act` is computed below. Layout: ELF header, one PT_LOAD
 * program header covering the whole file, code, then `act` (8-aligned) — 216 / 248 bytes.
 */

export type PauseArch = 'x64' | 'arm64';

const BASE = 0x400000;
const EHDR = 64;
const PHDR = 56;
const CODE_AT = EHDR + PHDR; // 120: 8-aligned, as arm64 instructions and `act` need
const SA_RESTORER = 0x04000000;

interface ArchCode {
  machine: number;
  code: Buffer;
  /** Offset of the handler within `code`. */
  handler: number;
  /** Fills the PC-relative reference to `act` (at code offset `act`). */
  link(code: Buffer, act: number): void;
}

const X64: ArchCode = {
  machine: 0x3e, // EM_X86_64
  code: Buffer.from(
    [
      [0xb8, 0x0d, 0, 0, 0], //           00 mov eax, 13            rt_sigaction
      [0xbf, 0x0f, 0, 0, 0], //           05 mov edi, 15            SIGTERM
      [0x48, 0x8d, 0x35, 0, 0, 0, 0], //  0a lea rsi, [rip + act]
      [0x31, 0xd2], //                    11 xor edx, edx           no old action
      [0x41, 0xba, 0x08, 0, 0, 0], //     13 mov r10d, 8            sigsetsize
      [0x0f, 0x05], //                    19 syscall
      [0xb8, 0x0d, 0, 0, 0], //           1b mov eax, 13            (rsi, rdx, r10 survive syscall)
      [0xbf, 0x02, 0, 0, 0], //           20 mov edi, 2             SIGINT
      [0x0f, 0x05], //                    25 syscall
      [0xb8, 0x22, 0, 0, 0], //           27 loop: mov eax, 34      pause
      [0x0f, 0x05], //                    2c syscall
      [0xeb, 0xf7], //                    2e jmp loop
      [0xb8, 0xe7, 0, 0, 0], //           30 handler: mov eax, 231  exit_group
      [0x31, 0xff], //                    35 xor edi, edi           status 0
      [0x0f, 0x05], //                    37 syscall
    ].flat(),
  ),
  handler: 0x30,
  link(code, act) {
    code.writeInt32LE(act - 0x11, 0x0d); // rip-relative: from the end of the lea
  },
};

function littleEndianWords(words: number[]): Buffer {
  const b = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => b.writeUInt32LE(w, i * 4));
  return b;
}

const ARM64: ArchCode = {
  machine: 0xb7, // EM_AARCH64
  code: littleEndianWords([
      0xd28010c8, //  00 mov x8, #134   rt_sigaction
      0xd28001e0, //  04 mov x0, #15    SIGTERM
      0x10000001, //  08 adr x1, act    (offset filled by link)
      0xd2800002, //  0c mov x2, #0
      0xd2800103, //  10 mov x3, #8
      0xd4000001, //  14 svc #0
      0xd28010c8, //  18 mov x8, #134   (x1..x3 survive svc)
      0xd2800040, //  1c mov x0, #2     SIGINT
      0xd4000001, //  20 svc #0
      0xd2800000, //  24 loop: mov x0, #0
      0xd2800001, //  28 mov x1, #0
      0xd2800002, //  2c mov x2, #0
      0xd2800003, //  30 mov x3, #0
      0xd2800928, //  34 mov x8, #73    ppoll: blocks until a signal
      0xd4000001, //  38 svc #0
      0x17fffffa, //  3c b loop
      0xd2800000, //  40 handler: mov x0, #0
      0xd2800bc8, //  44 mov x8, #94    exit_group
      0xd4000001, //  48 svc #0
  ]),
  handler: 0x40,
  link(code, act) {
    const imm = act - 0x08; // adr: 21-bit byte offset, low 2 bits in 29–30, the rest in 5–23
    const insn = 0x10000001 | ((imm & 3) << 29) | (((imm >> 2) & 0x7ffff) << 5);
    code.writeUInt32LE(insn >>> 0, 0x08);
  },
};

const ARCHES: Record<PauseArch, ArchCode> = { x64: X64, arm64: ARM64 };

/** True when this module can generate the pause program for `arch` (a `process.arch` value). */
export function isPauseArch(arch: string): arch is PauseArch {
  return arch === 'x64' || arch === 'arm64';
}

/** The pause executable for `arch`. */
export function pauseProgram(arch: PauseArch): Buffer {
  const a = ARCHES[arch];
  const code = Buffer.from(a.code); // a copy: link writes into it
  const act = Math.ceil(code.length / 8) * 8;
  a.link(code, act);
  const size = CODE_AT + act + 32;
  const out = Buffer.alloc(size);

  // ELF header
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0); // magic, 64-bit, little endian, version 1, System V
  out.writeUInt16LE(2, 16); // ET_EXEC
  out.writeUInt16LE(a.machine, 18);
  out.writeUInt32LE(1, 20); // EV_CURRENT
  out.writeBigUInt64LE(BigInt(BASE + CODE_AT), 24); // entry
  out.writeBigUInt64LE(BigInt(EHDR), 32); // program headers right after this header
  out.writeBigUInt64LE(0n, 40); // no section headers
  out.writeUInt32LE(0, 48); // flags
  out.writeUInt16LE(EHDR, 52);
  out.writeUInt16LE(PHDR, 54);
  out.writeUInt16LE(1, 56); // one program header
  out.writeUInt16LE(64, 58); // section header size (none present)
  out.writeUInt16LE(0, 60);
  out.writeUInt16LE(0, 62);

  // PT_LOAD of the whole file, read + execute (the kernel only reads `act`)
  out.writeUInt32LE(1, EHDR);
  out.writeUInt32LE(5, EHDR + 4);
  out.writeBigUInt64LE(0n, EHDR + 8);
  out.writeBigUInt64LE(BigInt(BASE), EHDR + 16);
  out.writeBigUInt64LE(BigInt(BASE), EHDR + 24);
  out.writeBigUInt64LE(BigInt(size), EHDR + 32);
  out.writeBigUInt64LE(BigInt(size), EHDR + 40);
  out.writeBigUInt64LE(0x1000n, EHDR + 48);

  code.copy(out, CODE_AT);

  // struct sigaction as the kernel reads it: handler, flags, restorer, mask
  const handler = BigInt(BASE + CODE_AT + a.handler);
  const at = CODE_AT + act;
  out.writeBigUInt64LE(handler, at);
  out.writeBigUInt64LE(BigInt(SA_RESTORER), at + 8);
  out.writeBigUInt64LE(handler, at + 16); // never used: the handler does not return
  out.writeBigUInt64LE(0n, at + 24); // block nothing extra while handling
  return out;
}
