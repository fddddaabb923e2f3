import { readFileSync } from 'node:fs';

/** The PyTorch-made networks outside the registry (scripts/make_import_fixtures.py). */
export const importFixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/import/${name}`, import.meta.url)));
