import type { CodegenConfig } from '@graphql-codegen/cli';

// The schema is the one exported by `make generate` (graph/schema.graphql);
// operations live beside the pages that use them, tagged with graphql().
const config: CodegenConfig = {
  schema: '../graph/schema.graphql',
  documents: ['src/**/*.{ts,tsx}', '!src/gql/**/*'],
  ignoreNoDocuments: false,
  generates: {
    './src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        enumsAsTypes: true,
        useTypeImports: true,
        avoidOptionals: { field: true, inputValue: false, object: true },
        scalars: { Time: 'string', Cursor: 'string', ID: 'string' },
        skipTypename: false,
      },
    },
  },
};

export default config;
