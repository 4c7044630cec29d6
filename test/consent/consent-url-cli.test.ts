import { describe, expect, it } from 'vitest';
import { main } from '../../lib/cli/main.ts';
import { captureIo } from '../support/cli-io.ts';
import { consentConfig } from './fixtures.ts';

const config = await consentConfig({
  tokenUrl: 'http://127.0.0.1:9/token',
  authorizeUrl: 'http://127.0.0.1:9/authorize',
  brokerUrl: 'https://broker.example.com:443',
});

describe('token-broker consent-url', () => {
  it('prints the consent-start URL derived from the redirectUri', async () => {
    const c = captureIo({ cwd: '/' });
    const code = await main(
      ['consent-url', 'consent', '--subject', 'bob@example.com', '--config', config.source],
      c.io,
    );
    expect(c.stderr()).toBe('');
    expect(code).toBe(0);
    expect(c.stdout()).toBe('https://broker.example.com:443/consent/consent?subject=bob%40example.com\n');
  });

  it('uses --base-url when given, with the profile default subject', async () => {
    const c = captureIo({ cwd: '/' });
    const code = await main(
      ['consent-url', 'consent', '--config', config.source, '--base-url', 'https://api.example.com/prod/'],
      c.io,
    );
    expect(code).toBe(0);
    expect(c.stdout()).toBe('https://api.example.com/prod/consent/consent?subject=alice%40example.com\n');
  });

  it('refuses a subject the profile does not allow', async () => {
    const c = captureIo({ cwd: '/' });
    const code = await main(
      ['consent-url', 'consent', '--subject', 'eve@evil.example', '--config', config.source],
      c.io,
    );
    expect(code).toBe(1);
    expect(c.stderr()).toBe(
      'token-broker: ERR_SUBJECT_NOT_ALLOWED: subject "eve@evil.example" is not allowed for profile "consent"; ask for one its subjects patterns match\n',
    );
  });

  it('refuses a profile without a consent step, and an unknown one', async () => {
    const plain = captureIo({ cwd: '/' });
    expect(await main(['consent-url', 'plain', '--config', config.source], plain.io)).toBe(1);
    expect(plain.stderr()).toBe(
      'token-broker: ERR_INVALID_REQUEST: profile "plain" has no consent step: it needs authUri (or a provider preset with one) and redirectUri\n',
    );
    const unknown = captureIo({ cwd: '/' });
    expect(await main(['consent-url', 'nope', '--config', config.source], unknown.io)).toBe(1);
    expect(unknown.stderr()).toBe(
      'token-broker: ERR_UNKNOWN_PROFILE: unknown profile "nope"; profiles: consent, plain\n',
    );
  });

  it('reports usage mistakes with exit code 2', async () => {
    const c = captureIo({ cwd: '/' });
    expect(await main(['consent-url', '--config', config.source], c.io)).toBe(2);
    expect(c.stderr()).toBe(
      'token-broker: give exactly one profile; usage: token-broker consent-url <profile> --subject S [--config F] [--base-url U] (see --help)\n',
    );
  });
});
