// Lint rules: typescript-eslint's recommended set, plus the house rules that catch real bugs in
// async daemon code (floating promises would hide failed kernel writes).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // The product never knows the simulator or the demo: a real host's process wires its host at its
    // entry (src/daemon/main.ts, src/cli/main.ts); tests and the demo wire the simulator's.
    files: ['src/**/*.ts'],
    ignores: ['src/sim/**', 'src/demo/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/sim', '**/sim/**', '**/demo', '**/demo/**'],
              message: 'production code must not import the simulator or the demo: take the host (HostIO, ProcessAccess) from the entry that put the process together',
            },
          ],
        },
      ],
    },
  },
);
