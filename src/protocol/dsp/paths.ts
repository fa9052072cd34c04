/** Where the Dataspace Protocol lives on the public listener. */
export const DSP_BASE_PATH = '/dsp/2025-1';
/** Our consumer callback endpoints (their paths would collide with the provider's under the base). */
export const DSP_CALLBACK_PATH = `${DSP_BASE_PATH}/callback`;
export const DSP_VERSION_PATH = '/.well-known/dspace-version';
