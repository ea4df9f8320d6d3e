// uws-pack's typings declare these constants as types only (or not at all), although the module
// exports them at runtime (see /work/shared/reference/libraries.md §1.2).
import 'uWebSockets.js';

declare module 'uWebSockets.js' {
  export const DISABLED: number;
  export const SHARED_COMPRESSOR: number;
  export const LIBUS_LISTEN_EXCLUSIVE_PORT: number;
}
