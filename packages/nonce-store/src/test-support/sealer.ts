import type { ReceiptSealerModule } from '../types.js';

/** The test chain's sealer, named so that the SQLite write thread can build it too. */
export function testSealer(chain: string): ReceiptSealerModule {
  return {
    chain,
    module: new URL('./hash-chain-sealer.mjs', import.meta.url).href,
    export: 'createHashChainSealer',
    args: [chain],
  };
}
