// Worker entry for formats-fuzz.test.ts: loads the TypeScript harness through tsx (Node 20 workers do
// not inherit the parent's --import tsx hooks).
import { tsImport } from 'tsx/esm/api';

await tsImport('./formats-fuzz.harness.ts', import.meta.url);
