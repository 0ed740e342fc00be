// Lint rules: typed checks everywhere, and a hard purity rule for the consensus core.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', 'bin/**', 'scripts/**', 'eslint.config.js', 'daemon/src/api/status-page/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        // node:test's test()/describe() return promises the runner itself awaits.
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }],
      }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportAllDeclaration', message: 'no export *: name what a module exports' }],
    },
  },
  {
    // The consensus core is pure: no I/O, no clocks, no randomness, no async.
    files: ['daemon/src/raft/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', 'fs', 'net', 'os', 'crypto', 'timers', 'child_process'], message: 'the raft core is pure: no I/O imports' }] }],
      'no-restricted-globals': ['error', 'Date', 'setTimeout', 'setInterval', 'setImmediate', 'process', 'performance', 'queueMicrotask'],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'use the injected Rng' }],
      'no-restricted-syntax': ['error',
        { selector: 'ExportAllDeclaration', message: 'no export *' },
        { selector: 'FunctionDeclaration[async=true], ArrowFunctionExpression[async=true], FunctionExpression[async=true]', message: 'the raft core is synchronous' }],
    },
  },
);
