import { expect, it } from 'vitest';
import * as api from './index.js';

it('exposes exactly the documented public surface', () => {
  expect(Object.keys(api).sort()).toEqual([
    'BinaryChangedError',
    'DEFAULT_LIMITS',
    'DEFAULT_SANDBOX_TOOLS',
    'GOVERNED_INPUT_ERROR_CODES',
    'GOVERNED_INPUT_LIMITS',
    'GovernedConfigError',
    'GovernedInputError',
    'GovernedRunError',
    'HandlerFailure',
    'HandlerRegistryError',
    'SandboxUnavailableError',
    'addHandler',
    'builtinHandlers',
    'createRegistry',
    'defineHandler',
    'describeRun',
    'echoHandler',
    'governedOutputSchema',
    'loadGovernedHandlers',
    'parseGovernedConfig',
    'probeSandbox',
    'readGovernedConfig',
    'runHandler',
    'validateGovernedInput',
  ]);
});
