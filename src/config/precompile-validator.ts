/**
 * Build step (`npm run build`): write the configuration validator as standalone code next to the
 * compiled config module, so that `hedgerow start` does not load Ajv to compile it (see validate.ts).
 */
import fs from 'node:fs';
import standaloneCode from 'ajv/dist/standalone';
import { ajv2019Lib } from '../lazy';
import { configSchema } from './schema';
import { CONFIG_AJV_OPTIONS, PRECOMPILED_VALIDATOR_FILE } from './validate';

export function precompiledValidatorSource(): string {
  const ajv = new (ajv2019Lib())({ ...CONFIG_AJV_OPTIONS, code: { source: true } });
  return standaloneCode(ajv, ajv.compile(configSchema));
}

if (require.main === module) {
  const tmp = `${PRECOMPILED_VALIDATOR_FILE}.tmp`;
  fs.writeFileSync(tmp, precompiledValidatorSource());
  fs.renameSync(tmp, PRECOMPILED_VALIDATOR_FILE);
}
