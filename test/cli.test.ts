/** The CLI skeleton: info, --help, --version, one-line errors and exit codes. */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

import { cli, ROOT } from './helpers/run';

describe('CLI', () => {
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  it('--version prints the package version', () => {
    const r = cli(['--version']);
    expect(r.status).to.equal(0);
    expect(r.stdout.trim()).to.equal(version);
  });

  it('--help lists the commands', () => {
    const r = cli(['--help']);
    expect(r.status).to.equal(0);
    expect(r.stdout).to.match(/Usage: continual-next/);
    expect(r.stdout).to.match(/\binfo\b/);
  });

  it('info prints versions and devices; --json is machine-readable', () => {
    const text = cli(['info']);
    expect(text.status).to.equal(0);
    expect(text.stdout).to.match(/torch\s+2\.\d+/);
    const j = cli(['info', '--json']);
    expect(j.status).to.equal(0);
    const parsed = JSON.parse(j.stdout) as { packageVersion: string; devices: { type: string }[] };
    expect(parsed.packageVersion).to.equal(version);
    expect(parsed.devices[0].type).to.equal('cpu');
  });

  it('info --self-check passes every check', () => {
    const r = cli(['info', '--self-check', '--json']);
    expect(r.status, r.stderr).to.equal(0);
    const checks = (JSON.parse(r.stdout) as { selfCheck: { ok: boolean; name: string }[] }).selfCheck;
    expect(checks.length).to.be.at.least(3);
    for (const c of checks) expect(c.ok, c.name).to.equal(true);
  });

  it('honours OMP_NUM_THREADS', () => {
    const r = cli(['info', '--json'], { env: { ...process.env, OMP_NUM_THREADS: '1' } });
    expect((JSON.parse(r.stdout) as { threads: { intraOp: number } }).threads.intraOp).to.equal(1);
  });

  it('an unknown flag exits 2 with a one-line error', () => {
    const r = cli(['info', '--bogus']);
    expect(r.status).to.equal(2);
    expect(r.stderr.split('\n')[0]).to.match(/unknown option '--bogus'/);
  });

  it('an unknown command exits 2', () => {
    const r = cli(['frobnicate']);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.match(/unknown command 'frobnicate'/);
  });
});
