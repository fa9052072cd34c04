/**
 * `hedgerow sd create` and `hedgerow sd verify` as an operator and a certifier run them (built CLI, child processes).
 */
import fs from 'node:fs';
import path from 'node:path';
import { CertStore } from '../../src/pki';
import { buildDidDocument, CERTIFICATE_CHAIN_PATH } from '../../src/identity/did';
import { loadConnectorIdentity } from '../../src/identity/identity';
import { runCli, tempDir } from '../helpers/cli';

describe('hedgerow sd', () => {
  const { dir, cleanup } = tempDir('hedgerow-gaiax-cli-');
  const cfg = path.join(dir, 'local.json');
  let did: string;
  afterAll(cleanup);

  beforeAll(async () => {
    expect(runCli(['init'], { cwd: dir }).status).toBe(0);
    const certStore = new CertStore(path.join(dir, 'certs'));
    const baseUrl = 'https://localhost:8443';
    const identity = loadConnectorIdentity(certStore.loadIdentity(), baseUrl);
    did = identity.did;
    const doc = await buildDidDocument({ did, publicKey: identity.publicKey, chain: identity.chain, chainUrl: new URL(CERTIFICATE_CHAIN_PATH, baseUrl).toString() });
    fs.writeFileSync(path.join(dir, 'did.json'), JSON.stringify(doc));
    fs.writeFileSync(
      cfg,
      JSON.stringify({
        gaiax: {
          legalName: 'Hedgerow Farm Cooperative eG',
          registrationNumber: { type: 'vatID', value: 'DE123456789' },
          legalAddress: { countrySubdivisionCode: 'DE-BY', locality: 'München' },
          serviceTerms: { url: 'https://localhost:8443/terms', hash: 'ab'.repeat(32) },
          trustedNotaries: [did],
        },
      }),
    );
  });

  it('is listed in the help', () => {
    const r = runCli(['sd', '--help'], { cwd: dir });
    expect(r.stdout).toMatch(/sd create/);
    expect(r.stdout).toMatch(/sd verify/);
  });

  it('refuses to create without the required configuration, naming the keys', () => {
    const r = runCli(['sd', 'create'], { cwd: dir });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/gaiax\.legalName, gaiax\.registrationNumber\.value, gaiax\.legalAddress\.countrySubdivisionCode/);
  });

  it('creates a Loire self-description that verifies offline, with a result credential', () => {
    const created = runCli(['sd', 'create', '--config', cfg, '--out', 'sd'], { cwd: dir });
    expect(created.stderr).toMatch(/self-issued/);
    expect(created.status).toBe(0);
    expect(created.stdout).toMatch(/wrote .*self-description\.jwt \(loire, 4 credentials/);
    expect(fs.readdirSync(path.join(dir, 'sd', 'credentials')).sort()).toEqual(['legal-person.jwt', 'registration-number.jwt', 'service-offering.jwt', 'terms-and-conditions.jwt']);
    const verified = runCli(['sd', 'verify', 'sd/self-description.jwt', '--config', cfg, '--did-doc', 'did.json', '--offline', '--result', 'result.jwt'], { cwd: dir });
    expect(verified.stdout.split('\n').filter((l) => l.startsWith('PASS'))).toHaveLength(8);
    expect(verified.stdout).toMatch(/RESULT: PASS/);
    expect(verified.status).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'result.jwt'), 'utf8').split('.')).toHaveLength(3);
  });

  it('exits non-zero and names the failing step for a tampered file, and reports JSON', () => {
    const jwt = fs.readFileSync(path.join(dir, 'sd', 'credentials', 'legal-person.jwt'), 'utf8');
    const [h, p, s] = jwt.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    payload.credentialSubject.name = 'Someone Else';
    fs.writeFileSync(path.join(dir, 'tampered.jwt'), [h, Buffer.from(JSON.stringify(payload)).toString('base64url'), s].join('.'));
    const r = runCli(['sd', 'verify', 'tampered.jwt', '--config', cfg, '--did-doc', 'did.json', '--offline'], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAIL {2}5 signature: SIGNATURE_INVALID/m);
    const json = runCli(['sd', 'verify', 'tampered.jwt', '--config', cfg, '--did-doc', 'did.json', '--offline', '--json'], { cwd: dir });
    const report = JSON.parse(json.stdout);
    expect(report.ok).toBe(false);
    expect(report.steps[4]).toMatchObject({ step: 5, status: 'FAIL', findings: [{ code: 'SIGNATURE_INVALID' }] });
  });

  it('without the DID document (offline, nothing cached) the DID is unresolvable', () => {
    const r = runCli(['sd', 'verify', 'sd/self-description.jwt', '--config', cfg, '--offline'], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAIL {2}2 did:web resolution: DID_UNRESOLVABLE/m);
  });

  it('creates and verifies the 22.10 format', () => {
    const created = runCli(['sd', 'create', '--config', cfg, '--format', '22.10'], { cwd: dir });
    expect(created.status).toBe(0);
    fs.writeFileSync(path.join(dir, 'sd-2210.json'), created.stdout);
    expect(JSON.parse(created.stdout).verifiableCredential[0].proof.type).toBe('JsonWebSignature2020');
    const r = runCli(['sd', 'verify', 'sd-2210.json', '--config', cfg, '--did-doc', 'did.json', '--offline'], { cwd: dir });
    expect(r.stdout).toMatch(/format: 22\.10 JSON-LD VP with 4 credential/);
    expect(r.status).toBe(0);
  });
});
