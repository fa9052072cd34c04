import fs from 'node:fs';
import path from 'node:path';
import type { ValidateFunction } from 'ajv/dist/2019';
import { ajv2019Lib } from '../lazy';
import { configSchema } from './schema';

/** Written next to this module by `npm run build` (see precompile-validator.ts). */
export const PRECOMPILED_VALIDATOR_FILE = path.join(__dirname, 'config-validator.generated.js');
export const CONFIG_AJV_OPTIONS = { allErrors: false, strict: true, allowUnionTypes: true } as const;

let validator: ValidateFunction | undefined;

/**
 * The configuration validator. Every start validates the configuration, so the build turns the schema
 * into code once (Ajv standalone) and a start only loads that code: compiling the schema at run time
 * costs a long-lived process ~2 MB of resident memory. Without a build (ts-jest runs src/) it is
 * compiled here, from the same schema with the same options.
 */
export function configValidator(): ValidateFunction {
  if (!validator) {
    validator = fs.existsSync(PRECOMPILED_VALIDATOR_FILE)
      ? (require(PRECOMPILED_VALIDATOR_FILE) as ValidateFunction)
      : new (ajv2019Lib())(CONFIG_AJV_OPTIONS).compile(configSchema);
  }
  return validator;
}
