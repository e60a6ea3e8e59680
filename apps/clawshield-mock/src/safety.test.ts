import { describe, expect, it } from 'vitest';
import { assertServeAllowed, isLoopbackHost, isLoopbackHostHeader } from './safety.js';

describe('assertServeAllowed', () => {
  it.each(['production', 'Production', ' production '])(
    'refuses NODE_ENV=%j with ERR_MOCK_UNSAFE',
    (value) => {
      expect(() => assertServeAllowed({ NODE_ENV: value }, '127.0.0.1')).toThrow(
        expect.objectContaining({
          code: 'ERR_MOCK_UNSAFE',
          message:
            'refusing to start: NODE_ENV=production, and clawshield-mock is a development-only approver',
        }),
      );
    },
  );

  it.each(['0.0.0.0', '::', '10.0.0.1', '127.0.0.2', 'my-laptop.local'])(
    'refuses the non-loopback host %s with ERR_MOCK_UNSAFE',
    (host) => {
      expect(() => assertServeAllowed({}, host)).toThrow(
        expect.objectContaining({
          code: 'ERR_MOCK_UNSAFE',
          message: `refusing to listen on ${host}: clawshield-mock binds only to loopback (127.0.0.1, ::1, localhost)`,
        }),
      );
    },
  );

  it.each(['127.0.0.1', '::1', 'localhost'])('allows %s outside production', (host) => {
    expect(() => assertServeAllowed({ NODE_ENV: 'development' }, host)).not.toThrow();
    expect(isLoopbackHost(host)).toBe(true);
  });
});

describe('isLoopbackHostHeader', () => {
  it.each([
    ['127.0.0.1:5100', true],
    ['localhost:5100', true],
    ['LOCALHOST', true],
    ['[::1]:5100', true],
    ['evil.example:5100', false],
    ['127.0.0.1.evil.example', false],
    [undefined, false],
  ])('%j -> %s', (header, expected) => {
    expect(isLoopbackHostHeader(header)).toBe(expected);
  });
});
