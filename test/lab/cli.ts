/**
 * The lab by hand:
 *   node --import tsx test/lab/cli.ts up [--hosts 3] [--join]   brings a lab up and leaves it running
 *   node --import tsx test/lab/cli.ts ls                        lists labs on this machine
 *   node --import tsx test/lab/cli.ts down [ID]                 tears one (or every) lab down
 */
import { Lab } from './lab.js';
import { labUnavailable } from './sys.js';

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  const why = labUnavailable();
  if (why && cmd !== 'ls') {
    console.error(`cannot run the lab here: ${why}`);
    return 1;
  }
  switch (cmd) {
    case 'up': {
      const hosts = Number(flag(args, '--hosts') ?? 3);
      const lab = await Lab.start({ hosts, name: 'cli', persistent: true, join: args.includes('--join') });
      console.log(`lab ${lab.id} is up (files and logs in ${lab.dir})`);
      console.log(`server   ${lab.serverUrl}`);
      for (const h of lab.hosts) console.log(`${h.name.padEnd(8)} ${h.address}  netns ${h.netns}  veth ${h.veth}  docker unix://${h.dockerSocket}  node ${h.nodeId}`);
      console.log(`\n  KARU_SERVER=${lab.serverUrl} ./bin/karu.js node ls`);
      console.log(`  node --import tsx test/lab/cli.ts down ${lab.id}`);
      return 0;
    }
    case 'ls': {
      for (const l of Lab.list()) console.log(`${l.id}  ${l.name}  ${l.persistent ? 'persistent' : l.ownerAlive ? 'owned by a running process' : 'stale'}  ${l.serverUrl ?? ''}  ${(l.hosts ?? []).map((h) => `${h.name}=${h.address}`).join(' ')}`);
      return 0;
    }
    case 'down': {
      const id = args[0];
      if (id) {
        if (!Lab.destroy(id)) {
          console.error(`no lab ${id} (see: ls)`);
          return 1;
        }
        console.log(`lab ${id} removed`);
        return 0;
      }
      const persistent = Lab.list().filter((l) => l.persistent).map((l) => l.id);
      for (const p of persistent) Lab.destroy(p);
      const stale = Lab.cleanupStale();
      console.log(`removed: ${[...persistent, ...stale].join(' ') || 'nothing'}`);
      return 0;
    }
    default:
      console.error('usage: cli.ts up [--hosts N] [--join] | ls | down [ID]');
      return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
