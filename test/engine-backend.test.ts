import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendPreference } from '../src/training/backend.js';

test('when the native binding is not installed, then auto falls back to wasm and says so', async () => {
  const running = await initBackend('auto');
  let nativeInstalled = true;
  try {
    await import('@tensorflow/tfjs-node' as string);
  } catch {
    nativeInstalled = false;
  }
  assert.equal(running, nativeInstalled ? 'tensorflow' : 'wasm');
  assert.equal(tf.getBackend(), running);
});

test('when initBackend is called again with the same preference, then it returns the same promise', () => {
  assert.equal(initBackend('wasm'), initBackend('wasm'));
});

test('when an unknown backend is asked for, then the error names the supported ones', () => {
  assert.throws(() => initBackend('webgpu' as BackendPreference), /Unknown backend 'webgpu'.*auto, tensorflow, wasm, cpu/);
});
