import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ForbiddenError, NotFoundError } from '../../src/errors';
import { DigestCache, type DigestPersistence, type FileFingerprint, fingerprintKey, openFileSource, resolveUnderRoot } from '../../src/dataplane/file-source';

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('file sources under the data root', () => {
  let base: string;
  let root: string;
  let outsideDir: string;

  beforeAll(() => {
    base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-fs-')));
    root = path.join(base, 'data');
    outsideDir = path.join(base, 'outside');
    fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
    fs.mkdirSync(outsideDir);
    fs.writeFileSync(path.join(root, 'a.csv'), 'a,b\n1,2\n');
    fs.writeFileSync(path.join(root, 'sub', 'b.bin'), Buffer.alloc(3000, 7));
    fs.writeFileSync(path.join(outsideDir, 'secret.txt'), 'secret');
    fs.writeFileSync(path.join(base, 'data-sibling.txt'), 'sibling'); // shares the root's name prefix
    fs.symlinkSync(path.join(outsideDir, 'secret.txt'), path.join(root, 'escape-file'));
    fs.symlinkSync(outsideDir, path.join(root, 'escape-dir'));
    fs.symlinkSync(path.join(root, 'a.csv'), path.join(root, 'inside-link'));
    fs.symlinkSync('sub', path.join(root, 'sub-link'));
    fs.symlinkSync('loop2', path.join(root, 'loop1'));
    fs.symlinkSync('loop1', path.join(root, 'loop2'));
  });
  afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

  it('opens a file by relative or absolute path, with size and mtime', async () => {
    for (const p of ['a.csv', './a.csv', 'sub/../a.csv', path.join(root, 'a.csv')]) {
      const f = await openFileSource(root, p);
      expect(f.path).toBe(path.join(root, 'a.csv'));
      expect(f.relativePath).toBe('a.csv');
      expect(f.size).toBe(8);
      expect(Math.abs(f.mtime.getTime() - fs.statSync(path.join(root, "a.csv")).mtimeMs)).toBeLessThan(1);
      await f.close();
    }
  });

  it.each([['../outside/secret.txt'], ['sub/../../outside/secret.txt'], ['..'], ['../data-sibling.txt'], ['/etc/passwd'], ['/etc/does-not-exist']])(
    'refuses %s with ForbiddenError PATH_OUTSIDE_ROOT (whether the target exists or not)',
    async (p) => {
      const err = await rejection(openFileSource(root, p));
      expect(err).toBeInstanceOf(ForbiddenError);
      expect(err.code).toBe('PATH_OUTSIDE_ROOT');
      expect(err.message).not.toContain(base); // reveals nothing about the host's layout
    },
  );

  it('refuses absolute paths that share the root as a string prefix', async () => {
    const err = await rejection(openFileSource(root, `${root}-sibling.txt`));
    expect(err.code).toBe('PATH_OUTSIDE_ROOT');
  });

  it('refuses symlinks that point out of the root (file and directory), follows those that stay inside', async () => {
    expect((await rejection(openFileSource(root, 'escape-file'))).code).toBe('PATH_OUTSIDE_ROOT');
    expect((await rejection(openFileSource(root, 'escape-dir/secret.txt'))).code).toBe('PATH_OUTSIDE_ROOT');
    const inside = await openFileSource(root, 'inside-link');
    expect(inside.relativePath).toBe('a.csv');
    await inside.close();
    const viaDir = await openFileSource(root, 'sub-link/b.bin');
    expect(viaDir.relativePath).toBe(path.join('sub', 'b.bin'));
    await viaDir.close();
    expect((await rejection(openFileSource(root, 'loop1'))).code).toBe('PATH_OUTSIDE_ROOT');
  });

  it('works when the data root itself is reached through a symlink', async () => {
    const linkRoot = path.join(base, 'root-link');
    fs.symlinkSync(root, linkRoot);
    const f = await openFileSource(linkRoot, path.join(linkRoot, 'a.csv'));
    expect(f.relativePath).toBe('a.csv');
    await f.close();
    expect((await rejection(openFileSource(linkRoot, path.join(linkRoot, '..', 'outside', 'secret.txt')))).code).toBe('PATH_OUTSIDE_ROOT');
  });

  it('refuses empty and NUL-containing paths', async () => {
    expect(await rejection(openFileSource(root, ''))).toBeInstanceOf(ForbiddenError);
    expect(await rejection(openFileSource(root, 'a.csv\0.png'))).toBeInstanceOf(ForbiddenError);
  });

  it('reports missing files inside the root as NotFoundError SOURCE_NOT_FOUND', async () => {
    const err = await rejection(openFileSource(root, 'nope.csv'));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.code).toBe('SOURCE_NOT_FOUND');
  });

  it('refuses non-regular files: directories, the root itself, FIFOs', async () => {
    expect((await rejection(openFileSource(root, 'sub'))).code).toBe('NOT_A_REGULAR_FILE');
    expect((await rejection(openFileSource(root, '.'))).code).toBe('NOT_A_REGULAR_FILE');
    const fifo = path.join(root, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const started = Date.now();
    expect((await rejection(openFileSource(root, 'pipe'))).code).toBe('NOT_A_REGULAR_FILE');
    expect(Date.now() - started).toBeLessThan(2000); // never blocks on opening a FIFO
  });

  it('reports a missing data root clearly', async () => {
    expect((await rejection(resolveUnderRoot(path.join(base, 'missing'), 'a'))).code).toBe('DATA_ROOT_INVALID');
  });

  it('reads byte ranges from the open handle, even after the path is replaced by rename', async () => {
    const p = path.join(root, 'ranged.txt');
    fs.writeFileSync(p, '0123456789');
    const f = await openFileSource(root, 'ranged.txt');
    fs.writeFileSync(`${p}.new`, 'abcdefghij');
    fs.renameSync(`${p}.new`, p);
    const read = async (r?: { start: number; end: number }) => {
      const chunks: Buffer[] = [];
      for await (const c of f.createReadStream(r)) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString();
    };
    expect(await read()).toBe('0123456789');
    expect(await read({ start: 3, end: 5 })).toBe('345');
    expect(await read({ start: 9, end: 9 })).toBe('9');
    expect(await read({ start: 5, end: 4 })).toBe('');
    await f.close();
  });
});

describe('DigestCache', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'hedgerow-digest-')));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('hashes once per file version, shares concurrent computations, and rehashes after a change', async () => {
    const content = crypto.randomBytes(3 * 1024 * 1024 + 17);
    fs.writeFileSync(path.join(dir, 'f.bin'), content);
    const hashed: FileFingerprint[] = [];
    const cache = new DigestCache({ onHashed: (fp) => hashed.push(fp) });
    const files = await Promise.all([1, 2, 3].map(() => openFileSource(dir, 'f.bin')));
    const digests = await Promise.all(files.map((f) => cache.sha256(f)));
    expect(new Set(digests)).toEqual(new Set([sha(content)]));
    expect(hashed).toHaveLength(1);
    expect(await cache.sha256(files[0]!)).toBe(sha(content));
    expect(hashed).toHaveLength(1);
    await Promise.all(files.map((f) => f.close()));

    // New content (size unchanged, mtime moved): a new version, hashed again.
    const other = Buffer.from(content);
    other[0] = other[0]! ^ 0xff;
    fs.writeFileSync(path.join(dir, 'f.bin'), other);
    const t = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(dir, 'f.bin'), t, t);
    const again = await cache.sha256OfAsset(dir, 'f.bin');
    expect(again.sha256).toBe(sha(other));
    expect(hashed).toHaveLength(2);
  });

  it('handles empty files', async () => {
    fs.writeFileSync(path.join(dir, 'empty'), '');
    const cache = new DigestCache();
    expect((await cache.sha256OfAsset(dir, 'empty')).sha256).toBe(sha(Buffer.alloc(0)));
  });

  it('keeps at most maxEntries versions (least recently used evicted)', async () => {
    const cache = new DigestCache({ maxEntries: 2 });
    let hashes = 0;
    const counting = new DigestCache({ maxEntries: 2, onHashed: () => hashes++ });
    for (const n of ['x', 'y', 'z']) fs.writeFileSync(path.join(dir, n), n);
    await counting.sha256OfAsset(dir, 'x');
    await counting.sha256OfAsset(dir, 'y');
    await counting.sha256OfAsset(dir, 'x'); // x becomes most recent
    await counting.sha256OfAsset(dir, 'z'); // evicts y
    expect(hashes).toBe(3);
    expect(counting.size).toBe(2);
    await counting.sha256OfAsset(dir, 'x');
    expect(hashes).toBe(3);
    await counting.sha256OfAsset(dir, 'y');
    expect(hashes).toBe(4);
    expect(cache.size).toBe(0);
  });

  it('uses the persistence hook before hashing and stores new digests in it; failures are misses', async () => {
    fs.writeFileSync(path.join(dir, 'p.bin'), 'persist me');
    const store = new Map<string, string>();
    const persistence: DigestPersistence = {
      get: async (_fp, key) => store.get(key),
      set: async (_fp, key, hex) => {
        store.set(key, hex);
      },
    };
    let hashes = 0;
    const first = new DigestCache({ persistence, onHashed: () => hashes++ });
    const a = await first.sha256OfAsset(dir, 'p.bin');
    expect(hashes).toBe(1);
    expect(store.get(fingerprintKey(a.fingerprint))).toBe(sha(Buffer.from('persist me')));
    // A new process (fresh memory cache) finds it in the store.
    const second = new DigestCache({ persistence, onHashed: () => hashes++ });
    expect((await second.sha256OfAsset(dir, 'p.bin')).sha256).toBe(a.sha256);
    expect(hashes).toBe(1);

    const errors: unknown[] = [];
    const broken = new DigestCache({
      persistence: { get: () => { throw new Error('db down'); }, set: () => { throw new Error('db down'); } },
      onPersistenceError: (e) => errors.push(e),
      onHashed: () => hashes++,
    });
    expect((await broken.sha256OfAsset(dir, 'p.bin')).sha256).toBe(a.sha256);
    expect(hashes).toBe(2);
    expect(errors).toHaveLength(2);
    // A corrupt stored value is not trusted.
    const corrupt = new DigestCache({ persistence: { get: () => 'not-a-digest', set: () => undefined }, onHashed: () => hashes++ });
    expect((await corrupt.sha256OfAsset(dir, 'p.bin')).sha256).toBe(a.sha256);
    expect(hashes).toBe(3);
  });

  it('fingerprint keys change with size, mtime and inode', async () => {
    fs.writeFileSync(path.join(dir, 'k'), 'one');
    const a = (await new DigestCache().sha256OfAsset(dir, 'k')).fingerprint;
    fs.writeFileSync(path.join(dir, 'k.tmp'), 'one');
    fs.renameSync(path.join(dir, 'k.tmp'), path.join(dir, 'k'));
    const b = (await new DigestCache().sha256OfAsset(dir, 'k')).fingerprint;
    expect(fingerprintKey(a)).not.toBe(fingerprintKey(b)); // same bytes, new inode: a new version (hashed again, same digest)
    expect(a.path).toBe(b.path);
  });

  it('a 64 MiB file is hashed once; cached lookups do not read it', async () => {
    const p = path.join(dir, 'big.bin');
    fs.writeFileSync(p, crypto.randomBytes(1024 * 1024));
    for (let i = 0; i < 6; i++) fs.appendFileSync(p, fs.readFileSync(p)); // 64 MiB
    const cache = new DigestCache();
    const f = await openFileSource(dir, 'big.bin');
    const d1 = await cache.sha256(f);
    expect(d1).toBe(crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
    // Same file version, and a handle that fails on any use: a cache hit must not touch the file.
    const unreadable = new Proxy(f.handle, { get: () => { throw new Error('the file was read again'); } });
    for (let i = 0; i < 3; i++) expect(await cache.sha256({ fingerprint: f.fingerprint, handle: unreadable })).toBe(d1);
    await f.close();
  });
});
