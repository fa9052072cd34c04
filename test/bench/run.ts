/**
 * `npm run bench`: runs every test/bench/*.bench module (each exports `run(): Promise<Record<string, number>>`),
 * prints the figures and writes them to bench-results.json. Benchmarks are measurements, not tests:
 * nothing here passes or fails on a number.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const files = fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.js'))
    .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
    .sort();
  const results: Record<string, Record<string, number>> = {};
  console.log(`hedgerow benchmarks on ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${process.arch}`);
  for (const file of files) {
    const name = file.replace(/\.bench\.js$/, '');
    process.stdout.write(`\n## ${name}\n`);
    const mod = require(path.join(__dirname, file)) as { run: () => Promise<Record<string, number>> };
    const started = Date.now();
    results[name] = await mod.run();
    for (const [k, v] of Object.entries(results[name]!)) console.log(`  ${k.padEnd(44)} ${Number.isInteger(v) ? v : v.toFixed(2)}`);
    console.log(`  (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
  const out = path.resolve(__dirname, '..', '..', '..', 'bench-results.json');
  fs.writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), node: process.version, arch: process.arch, results }, null, 2));
  console.log(`\nwritten to ${out}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
