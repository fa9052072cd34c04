import fs from 'node:fs';
import path from 'node:path';

/** Everything below `root` that is not a directory, as sorted `/`-separated relative paths; [] if root is missing. */
export function listFiles(root: string, relative = ''): string[] {
  if (!relative && !fs.existsSync(root)) return [];
  return fs
    .readdirSync(path.join(root, relative), { withFileTypes: true })
    .flatMap((entry) => {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      return entry.isDirectory() ? listFiles(root, child) : [child];
    })
    .sort();
}
