// Many `snout hogql` commands in one process (`snout hogql --lines`): the
// tests that parse or print thousands of statements paid 30-70 ms of process
// start for each. A command is the argument list that would follow
// `snout hogql`; its result is { status, stdout } as that process would have
// exited and printed (stdout without the final newline), or { status: 2,
// error } for arguments that are not a command.
import { spawnSync } from 'node:child_process';

export function hogqlMany(bin, commands) {
  if (!commands.length) return [];
  const r = spawnSync(bin, ['hogql', '--lines'], {
    input: commands.map((c) => JSON.stringify(c)).join('\n') + '\n',
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`snout hogql --lines exited ${r.status} (signal ${r.signal}): ${r.stderr}`);
  const out = r.stdout.split('\n');
  if (out[out.length - 1] === '') out.pop();
  if (out.length !== commands.length)
    throw new Error(`snout hogql --lines answered ${out.length} of ${commands.length} commands: ${r.stderr}`);
  return out.map((l) => JSON.parse(l));
}
