// Shared helper: start clickhouse-server (18.16) on loopback with free ports
// and its data in a temp dir under SNOUT_TEST_TMP, load schema.sql (and any
// other blank-line-separated SQL files), query it over HTTP, stop it.
// Used by printer.test.mjs and tests/differential/differential.test.mjs.
//
// The server also gets PostHog's channel definitions as PostHog sets them
// up: a table channel_definition (rows of src/exec/channel_definitions.inc,
// the executor's copy) read by the dictionary channel_definition_dict, which
// the printer's lookup*Type calls read. 18.16 dictionaries come from config
// files and have no Nullable attributes: null reads as ''.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));
const SERVER = process.env.CLICKHOUSE_SERVER || '/usr/sbin/clickhouse-server';

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

// Statements of a .sql file: blank-line-separated blocks, `--` lines dropped.
export function blocks(file) {
  return fs
    .readFileSync(path.isAbsolute(file) ? file : path.join(here, file), 'utf8')
    .split(/\n\s*\n/)
    .map((b) => b.split('\n').filter((l) => !l.startsWith('--')).join('\n').trim())
    .filter(Boolean);
}

// Resolves to { dir, httpPort, ch(sql, params), stop() }. ch() answers
// { ok, body } (HTTP 200 or not).
export async function startClickHouse(prefix = 'ch-') {
  const base = process.env.SNOUT_TEST_TMP || os.tmpdir();
  fs.mkdirSync(base, { recursive: true });
  const dir = fs.mkdtempSync(path.join(base, prefix));
  for (const d of ['data', 'tmp', 'user_files', 'log', 'format_schemas']) fs.mkdirSync(path.join(dir, d));
  const httpPort = await freePort();
  const tcpPort = await freePort();
  const isPort = await freePort();
  fs.writeFileSync(path.join(dir, 'config.xml'), `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/log/server.log</log><errorlog>${dir}/log/server.err.log</errorlog><size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <interserver_http_port>${isPort}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <max_connections>64</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>16</max_concurrent_queries>
  <uncompressed_cache_size>16777216</uncompressed_cache_size>
  <mark_cache_size>16777216</mark_cache_size>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
  <max_table_size_to_drop>0</max_table_size_to_drop>
  <dictionaries_config>${dir}/dictionaries.xml</dictionaries_config>
  <dictionaries_lazy_load>true</dictionaries_lazy_load>
</yandex>
`);
  const attr = (n) => `<attribute><name>${n}</name><type>String</type><null_value></null_value></attribute>`;
  fs.writeFileSync(path.join(dir, 'dictionaries.xml'), `<?xml version="1.0"?>
<yandex>
  <dictionary>
    <name>channel_definition_dict</name>
    <source><clickhouse><host>127.0.0.1</host><port>${tcpPort}</port><user>default</user><password></password><db>default</db><table>channel_definition</table></clickhouse></source>
    <lifetime>0</lifetime>
    <layout><complex_key_hashed/></layout>
    <structure>
      <key>
        <attribute><name>domain</name><type>String</type></attribute>
        <attribute><name>kind</name><type>String</type></attribute>
      </key>
      ${attr('domain_type')}
      ${attr('type_if_paid')}
      ${attr('type_if_organic')}
    </structure>
  </dictionary>
</yandex>
`);
  fs.writeFileSync(path.join(dir, 'users.xml'), `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage><max_threads>1</max_threads></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`);
  const log = fs.openSync(path.join(dir, 'log', 'stdout.log'), 'a');
  const proc = spawn(SERVER, [`--config-file=${dir}/config.xml`], { cwd: dir, stdio: ['ignore', log, log] });
  async function ch(sql, params = '') {
    const res = await fetch(`http://127.0.0.1:${httpPort}/?max_execution_time=20${params}`, { method: 'POST', body: sql });
    const body = await res.text();
    return { ok: res.status === 200, body };
  }
  async function stop() {
    if (proc.exitCode === null && proc.signalCode === null) {
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      await done;
      clearTimeout(t);
    }
    if (!process.env.SNOUT_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
  }
  let up = false;
  for (let i = 0; i < 120 && !up; i++) {
    await new Promise((r) => setTimeout(r, 250));
    try {
      const r = await fetch(`http://127.0.0.1:${httpPort}/ping`);
      up = r.ok;
    } catch {}
  }
  if (!up) {
    await stop();
    throw new Error(`clickhouse-server did not start; see ${dir}/log`);
  }
  for (const sql of channelDefinitionSql()) {
    const r = await ch(sql);
    if (!r.ok) {
      await stop();
      throw new Error(`loading channel definitions: ${r.body}`);
    }
  }
  return { dir, httpPort, ch, stop };
}

// The rows of src/exec/channel_definitions.inc:
// CHD("key", SOURCE|MEDIUM, "domain type"|NULL, "paid"|NULL, "organic"|NULL),
export function channelDefinitions() {
  const inc = fs.readFileSync(path.join(here, '../../src/exec/channel_definitions.inc'), 'utf8');
  const str = (v) => (v === 'NULL' ? null : JSON.parse(v));
  const rows = [];
  const re = /^CHD\(("(?:[^"\\]|\\.)*"), (SOURCE|MEDIUM), (NULL|"[^"]*"), (NULL|"[^"]*"), (NULL|"[^"]*")\),$/;
  for (const line of inc.split('\n')) {
    if (!line.startsWith('CHD(')) continue;
    const m = re.exec(line);
    if (!m) throw new Error(`channel_definitions.inc: cannot read ${line}`);
    rows.push([str(m[1]), m[2].toLowerCase(), str(m[3]), str(m[4]), str(m[5])]);
  }
  return rows;
}

function channelDefinitionSql() {
  const q = (v) => `'${(v ?? '').replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return [
    'CREATE TABLE channel_definition (domain String, kind String, domain_type String, ' +
      'type_if_paid String, type_if_organic String) ENGINE = TinyLog',
    'INSERT INTO channel_definition VALUES ' + channelDefinitions().map((r) => `(${r.map(q).join(', ')})`).join(', '),
  ];
}
