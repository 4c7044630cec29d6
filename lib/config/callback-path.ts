/**
 * The path the consent callback is served at, below the broker's base URL. A profile's
 * `redirectUri` ends with it; the configuration checks, the import of DataDirect settings,
 * the deployment checks and the consent routes all read it from here.
 */
export const CALLBACK_PATH = '/consent/callback';
