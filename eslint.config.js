// Lint: @eslint/js recommended + typescript-eslint recommended (syntactic only: no type information, so it stays fast).
// Formatting is prettier's job (.prettierrc.json); no rule here is about layout.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['node_modules/', 'dist/', 'coverage/', 'data/'] },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'bin/**/*.js'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    rules: {
      // Every control-character class here is deliberate: replies, paths and stored strings are checked for exactly those.
      'no-control-regex': 'off',
      // The regexes match messages indented by two spaces; written as two spaces they read like the message.
      'no-regex-spaces': 'off',
      // Prettier breaks long chains before a computed member (`request(app)\n[method](url)`); with semicolons
      // everywhere there is no ASI hazard left for this rule to find (eslint-config-prettier turns it off too).
      'no-unexpected-multiline': 'off',
      // `const { type: _t, ...data } = command` drops a property on purpose, and an Express error handler
      // must declare four parameters (`_next`) to be one.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_' }],
    },
  },
  {
    // TypeScript checks names in .ts files; plain JS needs Node's globals declared for no-undef (a few, rather
    // than a dependency on the `globals` package for one 6-line file).
    files: ['bin/**/*.js'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
      },
    },
  },
  {
    // The web console: plain ES modules run by the browser, with the browser's globals it uses.
    files: ['console/**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: {
      sourceType: 'module',
      globals: {
        document: 'readonly',
        window: 'readonly',
        location: 'readonly',
        sessionStorage: 'readonly',
        fetch: 'readonly',
        URLSearchParams: 'readonly',
        Node: 'readonly',
        confirm: 'readonly',
        crypto: 'readonly',
      },
    },
  },
);
